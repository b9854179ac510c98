"""Unique tasks over the HTTP API: the fields, a duplicate's 200, the batch's per-item report,
bad values as 400 problems naming the field; and the console's task page."""

from typing import Any

import pytest
from django.db.models import Q

from jobs.models import Task
from jobs.store import finish
from jobs.unique import MAX_UNIQUE_FOR
from tests.support.api import Caller, assert_problem
from tests.support.builders import claim
from tests.support.console import VIEW_PERMS, client_for, html, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_duplicate_answers_200_with_the_live_holder(api: Caller, other_api: Caller) -> None:
    created = api.submit(unique_key="report:7", unique_for=600, unique_states=["waiting", "running", "completed"])
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["duplicate"] is False
    assert (body["unique_key"], body["unique_for"], body["unique_states"], body["unique_held"]) == (
        "report:7", 600, ["waiting", "running", "completed"], True)
    assert body["unique_until"] is not None
    dup = api.submit(unique_key="report:7", payload={"other": "body"})
    assert dup.status_code == 200, dup.content
    assert dup.json()["duplicate"] is True and dup.json()["id"] == body["id"]
    assert dup.json()["payload"] == {}  # the original task, not the request
    assert "Location" not in dup
    assert other_api.submit(unique_key="report:7").status_code == 201  # another tenant's key
    # An idempotency replay is not a duplicate.
    first = api.submit(unique_key="other", idempotency_key="req").json()
    replay = api.submit(unique_key="other", idempotency_key="req")
    assert replay.status_code == 200 and replay.json()["id"] == first["id"] and replay.json()["duplicate"] is False
    assert Task.objects.filter(tenant=api.tenant).count() == 2


def test_after_the_holder_completes_a_new_task_is_accepted(api: Caller) -> None:
    first = api.submit(unique_key="k").json()
    assert api.submit(unique_key="k").json()["duplicate"] is True
    running = claim(Task.objects.get(pk=first["id"]))
    assert finish.write([finish.succeeded(running, "ok")], fence=Q(worker="w1")) == 1
    shown = api.get(f"/api/tasks/{first['id']}").json()
    assert (shown["status"], shown["unique_key"], shown["unique_held"]) == ("completed", "k", False)
    second = api.submit(unique_key="k")
    assert second.status_code == 201 and second.json()["id"] != first["id"]


def test_a_batch_reports_duplicates_per_item(api: Caller) -> None:
    held = api.submit(unique_key="held").json()["id"]
    response = api.batch([{"type": "noop", "unique_key": "a"}, {"type": "noop", "unique_key": "held"},
                          {"type": "noop", "unique_key": "a"}, {"type": "noop"},
                          {"type": "noop", "idempotency_key": "once"}])
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["created"] == 3 and body["duplicate"] == [1, 2] and body["replayed"] == []
    assert body["ids"][1] == held and body["ids"][2] == body["ids"][0]
    again = api.batch([{"type": "noop", "unique_key": "a"}, {"type": "noop", "idempotency_key": "once"}]).json()
    assert (again["created"], again["duplicate"], again["replayed"]) == (0, [0], [1])
    assert again["ids"] == [body["ids"][0], body["ids"][4]]


@pytest.mark.parametrize(("fields", "field"), [
    ({"unique_key": ""}, "unique_key"),
    ({"unique_key": 5}, "unique_key"),
    ({"unique_key": "k", "unique_for": 0}, "unique_for"),
    ({"unique_key": "k", "unique_for": MAX_UNIQUE_FOR + 1}, "unique_for"),
    ({"unique_key": "k", "unique_for": "1h"}, "unique_for"),
    ({"unique_key": "k", "unique_states": ["sleeping"]}, "unique_states"),
    ({"unique_key": "k", "unique_states": ["running", "completed"]}, "unique_states"),
    ({"unique_key": "k", "unique_states": {"waiting": True}}, "unique_states"),
    ({"unique_for": 60}, "unique_for"),
])
def test_bad_values_are_400_naming_the_field(api: Caller, fields: dict[str, Any], field: str) -> None:
    assert_problem(api.submit(**fields), 400, field)
    assert_problem(api.batch([{"type": "noop"}, {"type": "noop", **fields}]), 400, f"tasks[1].{field}")
    assert not Task.objects.exists()


def test_the_console_task_page_shows_the_key_its_hold_window_and_states(api: Caller) -> None:
    viewer = client_for(make_user("viewer", perms=VIEW_PERMS))
    held = api.submit(unique_key="nightly", unique_for=90).json()["id"]
    page = html(viewer.get(f"/tasks/{held}/"))
    assert "nightly" in page and ">held<" in page and "counts while waiting, running" in page
    assert "window 90 s" in page
    running = claim(Task.objects.get(pk=held))
    finish.write([finish.succeeded(running, "ok")], fence=Q(worker="w1"))
    page = html(viewer.get(f"/tasks/{held}/"))
    assert ">let go<" in page and ">held<" not in page
    plain = api.submit().json()["id"]
    assert "Unique key" not in html(viewer.get(f"/tasks/{plain}/"))


def test_a_worker_s_run_lets_the_key_go(api: Caller, inprocess_worker: Any) -> None:
    first = api.submit("fail", unique_key="job", max_retries=0).json()["id"]
    second = api.submit("noop", unique_key="other").json()["id"]
    assert api.submit("noop", unique_key="job").json()["duplicate"] is True
    inprocess_worker.burst()
    assert dict(Task.objects.values_list("pk", "status")) == {first: "failed", second: "completed"}
    assert not Task.objects.filter(unique_active__isnull=False).exists()
    assert api.submit("noop", unique_key="job").status_code == 201
    assert api.submit("noop", unique_key="other").status_code == 201
