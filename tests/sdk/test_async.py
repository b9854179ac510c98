"""``AsyncClient`` does what ``Client`` does, against the live server: the same calls, answers and errors."""

import asyncio

import pytest
from jobengine_client import AsyncClient, Conflict, NotFound, WaitTimeout

from jobs.models import Task
from tests.sdk.conftest import Live
from tests.sdk.proxy import Relay
from tests.sdk.test_live import mark

pytestmark = pytest.mark.django_db(transaction=True)

LATER = {"delay_seconds": 3600}


def test_the_async_client_matches_the_sync_one(live: Live, relay: Relay, tenant) -> None:
    start = mark(tenant)  # (the ORM before the event loop: it is sync-only)

    async def flow() -> dict:
        seen: dict = {}
        async with AsyncClient(relay.url, live.raw_key) as c:
            relay.cut(1)  # a lost answer: resent with the same idempotency key
            task = await c.submit("noop", {"async": 1}, **LATER)
            seen["task"] = task
            seen["detail"] = await c.get(task["id"])
            seen["cancelled"] = await c.cancel(task["id"])
            try:
                await c.cancel(task["id"])
            except Conflict as exc:
                seen["conflict"] = exc.current_status
            seen["retried"] = await c.retry(task["id"])
            batch = await c.submit_batch([{"type": "noop", **LATER} for _ in range(4)])
            seen["batch"] = batch
            seen["page"] = await c.list(page_size=2)
            seen["iterated"] = [t["id"] async for t in c.iter_tasks(page_size=2, status="scheduled", order="asc")]
            try:
                await c.get(999_999_999)
            except NotFound as exc:
                seen["missing"] = exc.status
            try:
                await c.wait(batch["ids"][0], timeout=1, poll=0.2)
            except WaitTimeout as exc:
                seen["waited"] = exc.task["status"]
            async for event in c.events(last_event_id=start, max_reconnects=0):
                if any(ch["task"] == task["id"] and ch["event"] == "task.created" for ch in event.changes):
                    seen["event"] = event.seq
                    break
        return seen

    seen = asyncio.run(asyncio.wait_for(flow(), timeout=120))
    task = seen["task"]
    assert Task.objects.filter(payload__async=1).count() == 1, "the resend replayed"
    assert seen["detail"]["id"] == task["id"] and seen["detail"]["errors"] == []
    assert seen["cancelled"]["status"] == "cancelled" and seen["conflict"] == "cancelled"
    assert seen["retried"]["status"] == "pending"
    assert seen["batch"]["created"] == 4
    assert seen["page"]["total"] == 6 and len(seen["page"]["data"]) == 2
    scheduled = list(Task.objects.filter(status="scheduled").order_by("id").values_list("id", flat=True))
    assert seen["iterated"] == scheduled and set(seen["batch"]["ids"]) <= set(scheduled)
    assert seen["missing"] == 404
    assert seen["waited"] == "scheduled"
    assert isinstance(seen["event"], int) and seen["event"] > start
