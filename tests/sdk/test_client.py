"""The sync client against the live server: submit, get, list and iterate, cancel, retry, errors, and the
SDK's own resends (idempotent across a lost answer; honouring ``Retry-After``)."""

import httpx
import pytest
from jobengine_client import (
    AuthenticationFailed,
    BadRequest,
    Client,
    Conflict,
    NotFound,
    RateLimited,
    RetryPolicy,
)

from jobs.models import Task
from tests.sdk.conftest import Live
from tests.sdk.proxy import Relay

pytestmark = pytest.mark.django_db(transaction=True)

LATER = {"delay_seconds": 3600}  # stays scheduled: nothing runs it during the test


def test_submit_get_cancel_retry_replays_and_errors(client: Client, live: Live, tenant) -> None:
    task = client.submit("noop", {"n": 1}, priority=5, **LATER)
    assert task["status"] == "scheduled" and task["priority"] == 5 and task["payload"] == {"n": 1}
    assert task["idempotency_key"], "the SDK gave the submission a key"
    assert task["duplicate"] is False
    assert Task.objects.get(pk=task["id"]).tenant_id == tenant.pk

    detail = client.get(task["id"])
    assert detail["id"] == task["id"] and detail["errors"] == [] and detail["type"] == "noop"

    assert client.cancel(task["id"])["status"] == "cancelled"
    with pytest.raises(Conflict) as again:
        client.cancel(task["id"])
    assert again.value.status == 409 and again.value.current_status == "cancelled"

    retried = client.retry(task["id"])
    assert retried["status"] == "pending" and retried["id"] == task["id"]
    with pytest.raises(Conflict):
        client.retry(task["id"])  # only failed or cancelled tasks are requeued

    # A key given by the caller replays the first task; reused with another body, it is a conflict.
    first = client.submit("noop", idempotency_key="order-7", **LATER)
    second = client.submit("noop", idempotency_key="order-7", **LATER)
    assert second["id"] == first["id"]
    assert Task.objects.filter(idempotency_key="order-7").count() == 1
    with pytest.raises(Conflict) as reused:
        client.submit("noop", idempotency_key="order-7", priority=1, **LATER)
    assert "order-7" in reused.value.detail

    # Errors carry the problem document.
    with pytest.raises(BadRequest) as bad:
        client.submit("noop", priority=9, max_retries=-1)
    problem = bad.value
    assert problem.status == 400 and problem.type.endswith("/validation") and problem.title
    assert {e["field"] for e in problem.errors} >= {"priority"}
    assert problem.body["status"] == 400
    assert "priority" in str(problem)

    with pytest.raises(BadRequest) as unknown:
        client.submit("no-such-type")
    assert [e["field"] for e in unknown.value.errors] == ["type"]

    with pytest.raises(NotFound) as missing:
        client.get(999_999_999)
    assert missing.value.status == 404 and missing.value.detail

    with Client(live.url, "jek_nope_nope") as stranger, pytest.raises(AuthenticationFailed) as refused:
        stranger.get(1)
    assert refused.value.status == 401


def test_list_pages_and_iteration_reach_every_task_once(client: Client) -> None:
    created = client.submit_batch([{"type": "noop", "payload": {"i": i}, **LATER} for i in range(7)])
    assert created["created"] == 7 and len(created["ids"]) == 7 and created["replayed"] == []
    client.submit("noop")  # pending: not in the filter below

    page = client.list(page_size=2, status="scheduled")
    assert page["total"] == 7 and page["page_size"] == 2 and len(page["data"]) == 2

    seen = [t["id"] for t in client.iter_tasks(status=["scheduled"], page_size=3)]
    assert seen == sorted(created["ids"], reverse=True), "every scheduled task once, newest first, over 3 pages"
    oldest_first = [t["id"] for t in client.iter_tasks(status="scheduled", page_size=3, order="asc")]
    assert oldest_first == sorted(created["ids"])
    assert len(list(client.iter_tasks(page_size=5))) == 8


def test_a_submission_whose_answer_is_lost_is_resent_and_makes_one_task(live: Live, relay: Relay) -> None:
    with Client(relay.url, live.raw_key) as through:
        relay.cut(1)  # the server creates the task; its answer never arrives
        task = through.submit("noop", {"order": 42}, **LATER)
        assert Task.objects.filter(payload__order=42).count() == 1, "the resend replayed, not created"
        posts = [r for r in relay.requests if r.startswith(b"POST /api/tasks")]
        assert len(posts) == 2, "sent twice: the lost answer, then the replay"
        assert task["id"] == Task.objects.get(payload__order=42).pk

        relay.cut(1)
        batch = through.submit_batch([{"type": "noop", "payload": {"b": i}, **LATER} for i in range(3)])
        assert batch["replayed"] == [0, 1, 2] and batch["created"] == 0, "the resent batch replayed every item"
        assert Task.objects.filter(payload__has_key="b").count() == 3

        # A cancel is not resent after a lost answer: the resend would answer 409 for the cancel it made.
        relay.cut(1)
        with pytest.raises(httpx.TransportError):
            through.cancel(task["id"])
    assert Task.objects.get(pk=task["id"]).status == "cancelled"


def test_429_is_resent_after_its_retry_after_within_the_bound(live: Live, relay: Relay, tenant) -> None:
    tenant.rate_limit, tenant.rate_window_seconds = 1, 2
    tenant.save()
    with Client(relay.url, live.raw_key) as through:
        first = through.submit("noop", **LATER)
        sent = len(relay.requests)
        # The window holds one submission: 429 with Retry-After (≤ 2 s), waited out, then accepted.
        second = through.submit("noop", **LATER)
        assert second["id"] != first["id"]
        assert len(relay.requests) - sent >= 2, "the first attempt was refused and resent"
        assert Task.objects.filter(tenant=tenant).count() == 2

        tenant.rate_window_seconds = 600
        tenant.save()
        sent = len(relay.requests)
        with pytest.raises(RateLimited) as limited:
            through.submit("noop", **LATER)
    assert limited.value.status == 429
    assert limited.value.retry_after is not None and limited.value.retry_after > RetryPolicy().max_retry_after
    assert len(relay.requests) - sent == 1, "a Retry-After beyond the bound is raised at once, not waited for"
    assert Task.objects.filter(tenant=tenant).count() == 2
