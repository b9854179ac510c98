"""The submission and retry path: retries cost like submissions, Stripe-like idempotency (a key
replays only its own body) and payloads nested too deep. Backlog caps: test_submissions_admission.py."""

import pytest

from jobs.lifecycle import Status
from jobs.models import Task
from jobs.services import control
from tenants.models import Tenant
from tests.support.api import Caller, MakeApi, assert_problem
from tests.support.builders import add_task, failed_task
from tests.support.bulk import run_bulk_jobs
from tests.support.console import OPERATOR_PERMS, client_for, html, make_user
from tests.support.ratelimit import assert_429, limited, remaining

pytestmark = pytest.mark.django_db


def dead(tenant: Tenant, n: int, kind: str = "send_email") -> list[Task]:
    return [failed_task(tenant, kind, ("SMTPError", "down")) for _ in range(n)]


def status_of(*tasks: Task) -> list[str]:
    return [Task.objects.get(pk=t.pk).status for t in tasks]


# =========================================================================== retries are charged


def test_retries_are_charged_to_the_rate_limit_like_submissions(make_api: MakeApi) -> None:
    caller = limited(make_api, 3)
    tasks = dead(caller.tenant, 4)
    for task, left in zip(tasks, (2, 1, 0), strict=False):
        response = caller.post(f"/api/tasks/{task.pk}/retry")
        assert response.status_code == 200, response.content
        assert (remaining(response), response["RateLimit-Policy"]) == (left, "3;w=60")
    body = assert_429(caller.post(f"/api/tasks/{tasks[3].pk}/retry"), 3)
    assert "costs 1" in body["detail"]
    assert status_of(*tasks) == [Status.PENDING] * 3 + [Status.FAILED]
    # The same window: new submissions are refused too.
    assert_429(caller.submit(), 3)


def test_a_retry_that_cannot_happen_is_not_charged(make_api: MakeApi, other_api: Caller) -> None:
    caller = limited(make_api, 1)
    done = add_task(caller.tenant, status=Status.COMPLETED)
    theirs = dead(other_api.tenant, 1)[0]
    assert caller.post(f"/api/tasks/{done.pk}/retry").status_code == 409
    assert caller.post(f"/api/tasks/{theirs.pk}/retry").status_code == 404
    assert caller.post("/api/tasks/999999/retry").status_code == 404
    mine = dead(caller.tenant, 1)[0]
    response = caller.post(f"/api/tasks/{mine.pk}/retry")
    assert (response.status_code, remaining(response)) == (200, 0)


def test_an_operator_retry_charges_the_tasks_own_tenant(make_api: MakeApi, operator_api: Caller) -> None:
    caller = limited(make_api, 1)
    tasks = dead(caller.tenant, 2)
    response = operator_api.post(f"/api/tasks/{tasks[0].pk}/retry?all=true")
    assert (response.status_code, response["RateLimit-Limit"], remaining(response)) == (200, "1", 0)
    assert_429(operator_api.post(f"/api/tasks/{tasks[1].pk}/retry?all=true"), 1)
    assert status_of(*tasks) == [Status.PENDING, Status.FAILED]
    assert_429(caller.submit(), 1)  # the tenant's window paid for it
    assert operator_api.submit().status_code == 201  # the operator's own window did not


def test_the_console_bulk_retry_is_charged_and_waits_past_the_limit(make_api: MakeApi) -> None:
    caller = limited(make_api, 3)
    console = client_for(make_user("operator", perms=OPERATOR_PERMS))
    first = dead(caller.tenant, 2)
    response = console.post("/tasks/bulk/", {"action": "retry", "confirm": "yes", "upto": str(first[-1].pk)})
    assert response.status_code == 302
    run_bulk_jobs()
    assert status_of(*first) == [Status.PENDING] * 2
    second = dead(caller.tenant, 2)
    response = console.post("/tasks/bulk/", {"action": "retry", "confirm": "yes", "upto": str(second[-1].pk)})
    assert response.status_code == 302
    [waited] = run_bulk_jobs()
    assert waited["snoozed"] >= 1  # the job waits for the window instead of going past it
    page = html(console.get(response["Location"]))
    assert "waiting" in page and "tenant limited: Rate limit of 3 tasks per 60 s exceeded; this request costs 2." \
        in page
    assert status_of(*second) == [Status.FAILED] * 2
    submitted = caller.submit()
    assert (submitted.status_code, remaining(submitted)) == (201, 0)


def test_the_dead_letter_requeue_is_charged(make_api: MakeApi) -> None:
    caller = limited(make_api, 1)
    console = client_for(make_user("operator", perms=OPERATOR_PERMS))
    tasks = dead(caller.tenant, 2)
    group = {"scope": "group", "type": "send_email", "error_type": "SMTPError", "error_message": "down",
             "confirm": "yes", "upto": str(tasks[-1].pk)}
    for data in (group, {"scope": "all", "confirm": "yes", "upto": str(tasks[-1].pk)}):
        response = console.post("/dead-letter/requeue/", data)
        assert response.status_code == 302
        results = run_bulk_jobs()
        assert results and all(r.get("snoozed", 0) >= 1 for r in results)  # each waits for the window
        assert "Rate limit of 1 tasks per 60 s exceeded" in html(console.get(response["Location"]))
    # The window holds one: the group's batch of two went on one by one, the first charged and
    # requeued, the second (and the "all" action after it) waiting for room.
    assert sorted(status_of(*tasks)) == [Status.FAILED, Status.PENDING]


def test_a_bulk_requeue_stopped_by_the_limit_says_how_far_it_went(make_api: MakeApi) -> None:
    caller = limited(make_api, 3)
    tasks = dead(caller.tenant, 5)
    done = control.requeue_charged(Task.objects.filter(tenant=caller.tenant), batch=2)
    assert done.requeued == 2
    assert done.refused and done.refused.startswith("tenant limited: Rate limit of 3 tasks per 60 s")
    assert status_of(*tasks) == [Status.PENDING] * 2 + [Status.FAILED] * 3


def test_a_bulk_requeue_batch_over_the_whole_window_goes_on_in_smaller_batches(make_api: MakeApi) -> None:
    """A batch of 5 against a limit of 3 never fits: it is split into batches the window holds (3,
    then 2: refused until the window has room), instead of waiting for a room that never comes."""
    caller = limited(make_api, 3)
    tasks = dead(caller.tenant, 5)
    done = control.requeue_charged(Task.objects.filter(tenant=caller.tenant), batch=5)
    assert done.requeued == 3 and done.retry_after is not None and done.retry_after >= 1
    assert status_of(*tasks).count(Status.PENDING) == 3


def test_a_bulk_requeue_under_a_zero_limit_stops_without_waiting(make_api: MakeApi) -> None:
    caller = limited(make_api, 3)
    tasks = dead(caller.tenant, 2)
    Tenant.objects.filter(pk=caller.tenant.pk).update(rate_limit=0)
    done = control.requeue_charged(Task.objects.filter(tenant=caller.tenant), batch=5)
    assert (done.requeued, done.retry_after) == (0, None)
    assert done.refused and "admits no requeue" in done.refused
    assert status_of(*tasks) == [Status.FAILED] * 2


# =========================================================================== idempotency


def test_a_replay_with_the_same_body_answers_the_original(api: Caller) -> None:
    first = api.submit(payload={"to": "a@example.com"}, priority=4, idempotency_key="k1")
    assert first.status_code == 201
    for replay in (api.submit(payload={"to": "a@example.com"}, priority=4, idempotency_key="k1"),
                   api.post("/api/tasks", {"priority": 4, "payload": {"to": "a@example.com"}, "type": "noop"},
                            HTTP_IDEMPOTENCY_KEY="k1")):
        assert (replay.status_code, replay.json()["id"]) == (200, first.json()["id"])
    assert Task.objects.get().request_hash is not None


def test_a_replay_with_a_different_body_is_a_409_naming_the_difference(api: Caller) -> None:
    first = api.submit(payload={"to": "a@example.com"}, priority=4, idempotency_key="k1")
    assert first.status_code == 201
    body = assert_problem(api.submit(payload={"to": "b@example.com"}, priority=2, idempotency_key="k1"), 409)
    assert body["type"].endswith("/idempotency-mismatch")
    assert (body["idempotency_key"], body["differs"]) == ("k1", ["payload", "priority"])
    assert "payload, priority differ" in body["detail"]
    # A field that cannot be compared to the stored row (a delay is relative): the generic message.
    body = assert_problem(api.submit(payload={"to": "a@example.com"}, priority=4, idempotency_key="k1",
                                     delay_seconds=0), 409)
    assert body["differs"] == [] and "differs from the one first sent" in body["detail"]
    assert Task.objects.count() == 1
    # Keys stored before the hash existed keep replaying as they always did.
    old = add_task(api.tenant, idempotency_key="legacy", priority=3)
    assert old.request_hash is None
    replay = api.submit(idempotency_key="legacy", priority=1)
    assert (replay.status_code, replay.json()["id"]) == (200, old.pk)
    batch = api.batch([{"type": "noop", "idempotency_key": "legacy", "priority": 5}])
    assert (batch.status_code, batch.json()["replayed"]) == (201, [0])


def test_a_batch_item_replayed_with_another_body_refuses_the_batch(api: Caller) -> None:
    assert api.batch([{"type": "noop", "idempotency_key": "k1"}]).status_code == 201
    response = api.batch([{"type": "noop"}, {"type": "noop", "idempotency_key": "k1", "priority": 5},
                          {"type": "noop", "idempotency_key": "k1-new"}])
    body = assert_problem(response, 409, "tasks[1].idempotency_key")
    assert len(body["errors"]) == 1 and "priority differ" in body["errors"][0]["message"]
    assert Task.objects.count() == 1
    same = api.batch([{"type": "noop", "idempotency_key": "k1"}, {"type": "noop"}])
    assert (same.status_code, same.json()["replayed"], same.json()["created"]) == (201, [0], 1)


# =========================================================================== deeply nested JSON


def test_a_payload_string_nested_thousands_deep_is_a_400_naming_payload(api: Caller) -> None:
    deep = "[" * 30_000 + "]" * 30_000
    body = assert_problem(api.submit(payload=deep), 400, "payload")
    assert "nested deeper than" in body["errors"][0]["message"]
    assert_problem(api.batch([{"type": "noop"}, {"type": "noop", "payload": '{"a":' * 5_000 + "1" + "}" * 5_000}]),
                   400, "tasks[1].payload")
    assert not Task.objects.exists()
    # A shallow JSON string is still decoded as before.
    assert api.submit(payload='{"n": 1}').json()["payload"] == {"n": 1}

