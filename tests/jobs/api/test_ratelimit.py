"""Rate limiting over the API: cost-weighted, per tenant, 429 with Retry-After and RateLimit-* headers, refunds."""

import json
import time
from typing import Any

import pytest
from django.test import Client

from jobs.models import Task
from tenants import keys
from tenants.models import Tenant
from tests.support.api import MakeApi, assert_problem
from tests.support.builders import make_task
from tests.support.ratelimit import assert_429, assert_never_fits, limited, noops, remaining
from tests.support.redis import DOWN_URL, use_redis

pytestmark = pytest.mark.django_db



# =========================================================================== admission and headers


def test_singles_are_admitted_up_to_the_limit_then_429(make_api: MakeApi) -> None:
    caller = limited(make_api, 5)
    for left in (4, 3, 2, 1, 0):
        response = caller.submit()
        assert response.status_code == 201
        assert response["RateLimit-Limit"] == "5"
        assert remaining(response) == left
        assert 1 <= int(response["RateLimit-Reset"]) <= 60
        assert response["RateLimit-Policy"] == "5;w=60"
    response = caller.submit()
    assert_429(response, 5)
    assert int(response["Retry-After"]) <= 60
    assert Task.objects.count() == 5


def test_a_batch_of_n_costs_n(make_api: MakeApi) -> None:
    caller = limited(make_api, 10)
    response = caller.batch(noops(7))
    assert (response.status_code, remaining(response)) == (201, 3)
    assert_429(caller.batch(noops(4)), 10, left=3)
    response = caller.batch(noops(3))
    assert (response.status_code, remaining(response)) == (201, 0)
    assert_429(caller.submit(), 10)
    assert Task.objects.count() == 10


def test_a_batch_larger_than_the_limit_never_fits(make_api: MakeApi) -> None:
    caller = limited(make_api, 10, window=45)
    response = caller.batch(noops(11))
    body = assert_never_fits(response, 10, 11, window=45)
    assert body["errors"][0]["field"] == "tasks"
    # It was not charged: the whole capacity is still there, and the headers say so.
    assert (response["RateLimit-Remaining"], response["RateLimit-Reset"]) == ("10", "0")
    response = caller.batch(noops(10))
    assert (response.status_code, remaining(response)) == (201, 0)
    # A full window refuses what would fit an empty one with a 429, what never fits with the same 413.
    assert_429(caller.batch(noops(10)), 10)
    assert_never_fits(caller.batch(noops(11)), 10, 11, window=45)


def test_a_request_refused_with_429_is_not_charged(make_api: MakeApi) -> None:
    caller = limited(make_api, 10)
    assert caller.batch(noops(8)).status_code == 201
    for _ in range(5):
        assert_429(caller.batch(noops(3)), 10, left=2)
    response = caller.batch(noops(2))
    assert (response.status_code, remaining(response)) == (201, 0)


def test_requests_rejected_for_any_other_reason_are_not_charged(make_api: MakeApi, settings: Any) -> None:
    caller = limited(make_api, 3)
    done = make_task(caller.tenant, status="completed")
    settings.JOBS = {**settings.JOBS, "API_MAX_BODY_BYTES": 30_000}
    rejected = [
        caller.submit("no_such_type"),                                         # 400 validation
        caller.post("/api/tasks", {"type": "noop", "priority": 9}),            # 400 validation
        caller.post("/api/tasks", "{broken"),                                  # 400 parse error
        caller.batch([{"type": "noop"}, {"type": "noop", "priority": 0}]),     # 400 one bad item
        caller.batch(noops(1001)),                                             # 400 too many
        caller.submit(payload={"s": "x" * (65 * 1024)}),                       # 413 payload
        caller.batch([{"type": "noop", "payload": {"s": "x" * 500}}] * 70),    # 413 body
        caller.client.post("/api/tasks", "type=noop", content_type="text/plain"),  # 415
        caller.post(f"/api/tasks/{done.pk}/cancel"),                           # 409
        caller.post("/api/tasks/999999/retry"),                                # 404
        caller.get("/api/tasks?all=true"),                                     # 403
        Client(headers={"X-API-Key": caller.raw + "x"}).post(                  # 401
            "/api/tasks", json.dumps({"type": "noop"}), content_type="application/json"),
    ]
    assert [r.status_code for r in rejected] == [400, 400, 400, 400, 400, 413, 413, 415, 409, 404, 403, 401]
    assert [remaining(caller.submit()) for _ in range(3)] == [2, 1, 0]
    assert_429(caller.submit(), 3)


def test_a_request_that_fails_after_admission_is_refunded(make_api: MakeApi,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from jobs.api.views import tasks as views
    from jobs.exceptions import InvalidTask

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise InvalidTask("idempotency_key", "keys kept colliding with concurrent requests; retry the request")

    caller = limited(make_api, 5)
    with monkeypatch.context() as patch:
        patch.setattr(views, "save_many", refuse)
        patch.setattr(views, "save_task", refuse)
        assert_problem(caller.batch(noops(4)), 400, "idempotency_key")
        assert_problem(caller.submit(), 400, "idempotency_key")
    response = caller.batch(noops(5))
    assert (response.status_code, remaining(response)) == (201, 0)


def test_idempotent_replays_are_not_charged(make_api: MakeApi) -> None:
    caller = limited(make_api, 2)
    first = caller.submit(idempotency_key="k1")
    assert (first.status_code, remaining(first)) == (201, 1)
    for _ in range(5):
        assert caller.submit(idempotency_key="k1").status_code == 200
    second = caller.submit(idempotency_key="k2")
    assert (second.status_code, remaining(second)) == (201, 0)
    # With the window full, replays still answer (they create nothing) and new work does not.
    replay = caller.submit(idempotency_key="k1")
    assert (replay.status_code, replay.json()["id"]) == (200, first.json()["id"])
    batch = caller.batch([{"type": "noop", "idempotency_key": "k1"}, {"type": "noop", "idempotency_key": "k2"}])
    assert batch.status_code == 201
    assert batch.json()["created"] == 0 and batch.json()["replayed"] == [0, 1]
    assert_429(caller.submit(idempotency_key="k3"), 2)
    assert Task.objects.count() == 2


def test_a_partly_replayed_batch_costs_only_its_new_tasks(make_api: MakeApi) -> None:
    caller = limited(make_api, 5)
    assert caller.batch([{"type": "noop", "idempotency_key": k} for k in ("k1", "k2")]).status_code == 201
    specs = [{"type": "noop", "idempotency_key": k} for k in ("k1", "k2", "k3", "k4", "k5")]
    response = caller.batch(specs)
    assert response.status_code == 201
    assert remaining(response) == 0
    assert response.json()["created"] == 3
    assert Task.objects.count() == 5


def test_reads_and_cancels_are_not_rate_limited_but_retries_are(make_api: MakeApi) -> None:
    caller = limited(make_api, 1)
    task = caller.submit().json()
    assert_429(caller.submit(), 1)
    assert caller.get("/api/tasks").status_code == 200
    assert caller.get(f"/api/tasks/{task['id']}").status_code == 200
    assert caller.post(f"/api/tasks/{task['id']}/cancel").status_code == 200
    # A retry is new work: charged like a submission (tests/security/test_submissions.py).
    assert_429(caller.post(f"/api/tasks/{task['id']}/retry"), 1)
    assert caller.get("/api/analytics").status_code == 200


# =========================================================================== per-tenant limits


def test_limits_are_per_tenant(make_api: MakeApi) -> None:
    a = limited(make_api, 3, slug="small")
    b = limited(make_api, 5, slug="large")
    assert a.batch(noops(3)).status_code == 201
    assert_429(a.submit(), 3)
    # B's window is its own and untouched by A's.
    responses = [b.submit() for _ in range(5)]
    assert [r.status_code for r in responses] == [201] * 5
    assert [remaining(r) for r in responses] == [4, 3, 2, 1, 0]
    assert {r["RateLimit-Limit"] for r in responses} == {"5"}
    assert_429(b.submit(), 5)
    assert Task.objects.filter(tenant=a.tenant).count() == 3
    assert Task.objects.filter(tenant=b.tenant).count() == 5


def test_tenants_without_their_own_limit_use_the_configured_default(make_api: MakeApi, settings: Any) -> None:
    settings.JOBS = {**settings.JOBS, "API_RATE_LIMIT": 4, "API_RATE_WINDOW_SECONDS": 30}
    caller = limited(make_api, None, window=None)
    response = caller.batch(noops(4))
    assert response.status_code == 201
    assert (response["RateLimit-Limit"], response["RateLimit-Policy"], remaining(response)) == ("4", "4;w=30", 0)
    response = caller.submit()
    assert_429(response, 4)
    assert int(response["Retry-After"]) <= 30


def test_a_changed_tenant_limit_applies_once_the_cached_key_is_refreshed(make_api: MakeApi) -> None:
    caller = limited(make_api, 2)
    assert caller.batch(noops(2)).status_code == 201
    assert_429(caller.submit(), 2)
    Tenant.objects.filter(pk=caller.tenant.pk).update(rate_limit=5)
    keys.forget()
    response = caller.batch(noops(3))
    assert (response.status_code, response["RateLimit-Limit"], remaining(response)) == (201, "5", 0)


def test_the_tenants_window_slides(make_api: MakeApi) -> None:
    caller = limited(make_api, 2, window=1)
    assert caller.batch(noops(2)).status_code == 201
    response = caller.submit()
    assert_429(response, 2)
    assert response["Retry-After"] == "1"
    time.sleep(1.2)  # the whole window has passed
    response = caller.batch(noops(2))
    assert (response.status_code, remaining(response)) == (201, 0)


# Regression: `key.rate_limit or default` used to give a tenant limited to 0 the 10,000 default.
def test_a_tenant_limit_of_zero_admits_nothing(make_api: MakeApi) -> None:
    caller = limited(make_api, 0)
    # No wait would admit it: 413, alone or in a batch.
    assert_never_fits(caller.submit(), 0, 1)
    assert_never_fits(caller.batch(noops(1)), 0, 1)
    assert not Task.objects.exists()


# =========================================================================== Redis unreachable


def test_redis_down_and_failing_closed_is_503_and_creates_nothing(make_api: MakeApi, settings: Any) -> None:
    caller = limited(make_api, 100)
    use_redis(settings, DOWN_URL)
    settings.JOBS = {**settings.JOBS, "RATE_LIMIT_FAIL_OPEN": False}
    response = caller.submit()
    body = assert_problem(response, 503)
    assert body["type"].endswith("/unavailable")
    assert int(response["Retry-After"]) >= 1
    assert_problem(caller.batch(noops(2)), 503)
    assert not Task.objects.exists()


def test_redis_down_and_failing_open_admits(make_api: MakeApi, settings: Any) -> None:
    caller = limited(make_api, 100)
    use_redis(settings, DOWN_URL)
    response = caller.batch(noops(3))
    assert response.status_code == 201
    assert_never_fits(caller.batch(noops(101)), 100, 101)  # what can never fit is still refused
    assert Task.objects.count() == 3
