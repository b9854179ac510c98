"""RateLimit headers on every authenticated API answer, consistent with each other and uncharged
for what is not new work; declared in the schema with Retry-After, Location and Idempotent-Replayed."""

from typing import Any

import pytest
from django.test import Client

from jobs.api.conf import api_conf
from tests.support.api import Caller, MakeApi, assert_problem
from tests.support.builders import make_task
from tests.support.ratelimit import assert_429, limited, noops, remaining
from tests.support.redis import DOWN_URL, use_redis

pytestmark = pytest.mark.django_db


def window(response: Any) -> tuple[int, int, int, str]:
    """(Limit, Remaining, Reset, Policy), checked against each other: what is left is at most the limit,
    and the window is free again at once (Reset 0) exactly when nothing of it is used."""
    limit, left, reset = (int(response[f"RateLimit-{h}"]) for h in ("Limit", "Remaining", "Reset"))
    policy = response["RateLimit-Policy"]
    assert policy.startswith(f"{limit};w=")
    assert 0 <= left <= limit
    assert (reset == 0) == (left == limit), (left, limit, reset)
    assert reset <= int(policy.split("w=")[1])
    return limit, left, reset, policy


def test_every_answer_reports_the_window_and_only_new_work_charges(make_api: MakeApi, limiter_backend: str) -> None:
    caller = limited(make_api, 10, window=30)
    task = caller.submit().json()
    # Reads, actions, replays and refusals report the window as it stands, and charge nothing.
    answers = [
        caller.get(f"/api/tasks/{task['id']}"),
        caller.get(f"/api/tasks/{task['id']}/why"),
        caller.get("/api/tasks/999999"),                                  # 404
        caller.submit("no_such_type"),                                    # 400
        caller.batch([{"type": "noop", "priority": 0}]),                  # 400
        caller.post(f"/api/tasks/{task['id']}/cancel"),
        caller.post(f"/api/tasks/{task['id']}/cancel"),                   # 409
        caller.submit(idempotency_key="again"),                           # 201: charged
        caller.submit(idempotency_key="again"),                           # 200 replay
    ]
    assert [r.status_code for r in answers] == [200, 200, 404, 400, 400, 200, 409, 201, 200]
    states = [window(r) for r in answers]
    assert {s[0] for s in states} == {10} and {s[3] for s in states} == {"10;w=30"}
    assert [s[1] for s in states] == [9] * 7 + [8, 8]
    assert all(1 <= s[2] <= 30 for s in states)


def test_an_untouched_window_reads_full_and_reset_zero(make_api: MakeApi, limiter_backend: str) -> None:
    caller = limited(make_api, 5, window=20)
    done = make_task(caller.tenant, status="completed")
    response = caller.get(f"/api/tasks/{done.pk}")
    assert window(response) == (5, 5, 0, "5;w=20")


def test_a_429_reports_what_is_left_and_a_reset_no_sooner_than_the_wait(make_api: MakeApi,
                                                                         limiter_backend: str) -> None:
    caller = limited(make_api, 10)
    assert caller.batch(noops(7)).status_code == 201
    response = caller.batch(noops(4))
    assert_429(response, 10, left=3)  # a smaller batch still fits, and the headers say so
    window(response)
    assert remaining(caller.batch(noops(3))) == 0


def test_a_request_that_never_fits_reports_the_untouched_window(make_api: MakeApi, limiter_backend: str) -> None:
    caller = limited(make_api, 4, window=20)
    response = caller.batch(noops(5))
    assert response.status_code == 413
    assert window(response) == (4, 4, 0, "4;w=20")


def test_collection_reads_report_the_read_budget_they_are_charged(api: Caller) -> None:
    c = api_conf()
    first, second = api.get("/api/tasks"), api.get("/api/tasks")
    assert first["RateLimit-Policy"] == f"{c.READ_RATE_LIMIT};w={c.READ_RATE_WINDOW_SECONDS}"
    assert remaining(first) - remaining(second) == c.LIST_READ_COST
    window(second)


def test_unauthenticated_answers_carry_no_rate_headers(api: Caller) -> None:
    response = Client(headers={"X-API-Key": api.raw + "x"}).get("/api/tasks/1")
    assert_problem(response, 401)
    assert "RateLimit-Limit" not in response


def test_redis_down_leaves_the_headers_out_and_the_read_answered(make_api: MakeApi, settings: Any) -> None:
    caller = limited(make_api, 10)
    done = make_task(caller.tenant, status="completed")
    use_redis(settings, DOWN_URL)
    settings.JOBS = {**settings.JOBS, "RATE_LIMIT_FAIL_OPEN": False}
    response = caller.get(f"/api/tasks/{done.pk}")
    assert response.status_code == 200 and "RateLimit-Limit" not in response


def test_the_schema_declares_the_headers_where_they_are_sent(api: Caller) -> None:
    document = api.get("/api/schema/", {"format": "json"}).json()

    def headers(path: str, method: str, code: str) -> set[str]:
        return set(document["paths"][path][method]["responses"][code].get("headers", {}))

    rate = {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy"}
    assert rate | {"Location"} <= headers("/api/tasks", "post", "201")
    assert rate | {"Idempotent-Replayed"} <= headers("/api/tasks", "post", "200")
    assert rate | {"Retry-After"} <= headers("/api/tasks", "post", "429")
    assert rate | {"Idempotent-Replayed"} <= headers("/api/tasks/batch", "post", "201")
    assert rate | {"Retry-After"} <= headers("/api/tasks/batch", "post", "429")
    assert "Retry-After" not in headers("/api/tasks/batch", "post", "413")
    names = {p["name"] for p in document["paths"]["/api/tasks/batch"]["post"].get("parameters", [])}
    assert "Idempotency-Key" in names
