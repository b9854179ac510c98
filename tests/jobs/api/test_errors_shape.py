"""One error contract: one scheme of problem ``type`` URIs, ``errors`` on 400s, and one timestamp format."""

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from jobs.lifecycle import Status
from jobs.problems import DEFAULT_KINDS, KINDS, PROBLEM_TYPE, TITLES, problem
from tests.support.api import Caller, assert_problem
from tests.support.builders import make_task

pytestmark = pytest.mark.django_db

TYPE = re.compile(r"^https://job-engine\.invalid/problems/[a-z]+(-[a-z]+)*$")
#: ``kind="…"`` wherever a problem is raised or refused with one.
RAISED_KIND = re.compile(r"""kind=["']([a-z-]+)["']""")


def test_every_registered_kind_follows_the_scheme() -> None:
    for kind, (status, meaning) in KINDS.items():
        body = problem(status, "detail", kind=kind)
        assert TYPE.match(body["type"]), kind
        assert body["title"] == TITLES[status] and meaning
    # A problem raised with a status alone takes a registered kind of that status.
    for status in TITLES:
        kind = DEFAULT_KINDS[status]
        assert KINDS[kind][0] == status
        assert problem(status, "detail")["type"] == PROBLEM_TYPE + kind


def test_every_kind_raised_in_the_code_is_registered() -> None:
    root = Path(settings.BASE_DIR)
    used = {}
    for package in ("jobs", "tenants", "dashboard", "engine_site"):
        for path in (root / package).rglob("*.py"):
            for kind in RAISED_KIND.findall(path.read_text()):
                used.setdefault(kind, path.relative_to(root))
    assert len(used) >= 10  # the walk found the raises (validation, not-found, operator-only, …)
    unregistered = {kind: str(path) for kind, path in used.items() if kind not in KINDS}
    assert unregistered == {}


def _kind(body: dict[str, Any]) -> str:
    assert TYPE.match(body["type"]), body
    return str(body["type"]).removeprefix(PROBLEM_TYPE)


def test_every_status_answers_a_registered_kind_of_that_status(api: Caller) -> None:
    done = make_task(api.tenant, status=Status.COMPLETED)
    responses = {
        400: api.get("/api/tasks", {"priority": "9"}),
        401: Client().get("/api/tasks"),
        403: api.get("/api/audit"),
        404: api.get("/api/tasks/999999"),
        405: api.client.delete("/api/tasks"),
        406: api.get("/api/tasks", HTTP_ACCEPT="text/html"),
        409: api.post(f"/api/tasks/{done.pk}/cancel"),
        413: api.submit(payload={"s": "x" * (65 * 1024)}),
        415: api.client.post("/api/tasks", "x", content_type="text/plain"),
    }
    for status, response in responses.items():
        kind = _kind(assert_problem(response, status))
        assert KINDS[kind][0] == status, (status, kind)


def test_a_body_that_is_not_json_is_a_400_naming_the_body(api: Caller) -> None:
    body = assert_problem(api.post("/api/tasks", '{"type":'), 400, "body")
    assert _kind(body) == "validation"
    assert "JSON parse error" in body["errors"][0]["message"]


def test_no_key_is_the_same_words_everywhere() -> None:
    assert Client().get("/api/tasks").json()["detail"] == "An API key is required."


def test_asking_for_problem_json_alone_gets_the_error_not_a_406(api: Caller) -> None:
    body = assert_problem(api.get("/api/tasks/999999999", HTTP_ACCEPT="application/problem+json"), 404)
    assert _kind(body) == "not-found"
    ok = api.get("/api/tasks", HTTP_ACCEPT="application/problem+json")
    assert ok.status_code == 200 and ok["Content-Type"] == "application/json"
    assert _kind(assert_problem(api.get("/api/tasks", HTTP_ACCEPT="text/html"), 406)) == "not-acceptable"


def test_an_inactive_tenants_key_is_refused_not_unknown(api: Caller) -> None:
    api.tenant.active = False
    api.tenant.save()
    from tenants import keys

    keys.reset()
    assert _kind(assert_problem(api.get("/api/tasks"), 403)) == "forbidden"


# --- timestamps: ISO 8601 in UTC with "Z", in every response

UTC_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def _moments(data: Any, path: str = "") -> list[tuple[str, str]]:
    """Every string of ``data`` that reads as a date-time, with where it is."""
    if isinstance(data, dict):
        return [m for key, value in data.items() for m in _moments(value, f"{path}.{key}")]
    if isinstance(data, list):
        return [m for i, value in enumerate(data) for m in _moments(value, f"{path}[{i}]")]
    if isinstance(data, str) and "T" in data[:11]:
        try:
            datetime.fromisoformat(data)
        except ValueError:
            return []
        return [(path, data)]
    return []


def test_every_timestamp_is_utc_with_z(api: Caller, operator_api: Caller) -> None:
    task = make_task(api.tenant, status=Status.COMPLETED)
    later = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0).astimezone(timezone(timedelta(hours=2)))
    assert operator_api.post("/api/schedules", {"name": "nightly", "tenant": api.tenant.slug, "type": "noop",
                                                "cron": "0 3 * * *"}).status_code == 201
    assert operator_api.post("/api/schedules/nightly/run").status_code == 201
    assert operator_api.post("/api/pauses", {"kind": "queue", "value": "bulk"}).status_code == 201
    bulk = api.post("/api/bulk", {"action": "cancel", "filter": {"status": "pending"}})
    assert bulk.status_code in (200, 202), bulk.content
    answers = {
        "task list": api.get("/api/tasks"),
        "task": api.get(f"/api/tasks/{task.pk}"),
        "submission": api.submit(run_at=later.isoformat()),
        "schedules": operator_api.get("/api/schedules"),
        "schedule": operator_api.get("/api/schedules/nightly"),
        "audit": operator_api.get("/api/audit"),
        "throughput": api.get("/api/analytics/throughput", {"window": 60, "bucket": 10}),
        "pauses": operator_api.get("/api/pauses"),
        "tenant": operator_api.get(f"/api/tenants/{api.tenant.slug}"),
        "bulk": bulk,
    }
    seen = {}
    for name, response in answers.items():
        assert response.status_code in (200, 201, 202), (name, response.content[:500])
        # An audit entry's detail is free-form, kept as the action recorded it (not a field of the API's).
        moments = [m for m in _moments(response.json()) if not (name == "audit" and ".detail." in m[0])]
        seen[name] = len(moments)
        assert [m for m in moments if not UTC_Z.match(m[1])] == [], name
    # The walk saw what it checks: each answer's date-times (a bulk summary has none).
    assert all(seen[name] for name in answers if name != "bulk"), seen
    assert any(path.endswith(".next_run_at") for path, _ in _moments(answers["schedule"].json()))
    # Given with an offset, answered in UTC.
    assert answers["submission"].json()["run_at"] == later.astimezone(UTC).isoformat().replace("+00:00", "Z")
