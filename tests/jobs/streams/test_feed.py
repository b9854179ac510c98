"""One API client's feed: the replay from the database joins the live rows without a gap."""

import asyncio
import time

import pytest
from channels.db import database_sync_to_async

from jobs.models import Event
from jobs.streams.feed import Feed
from jobs.streams.hub import EventHub
from jobs.streams.watermark import EventRow
from tests.support.outbox import ainsert, until

pytestmark = pytest.mark.django_db(transaction=True)


def test_feed_replays_from_the_database_then_joins_the_live_rows_without_a_gap(tenant, other_tenant) -> None:
    async def main() -> None:
        hub = EventHub(poll_seconds=0.05, gap_seconds=1.0)
        ids = []
        for i in range(23):
            ids += await ainsert(tenant.pk if i % 3 else other_tenant.pk)
        last = ids[5]
        feed = Feed(hub, tenant.pk, last, batch=4)  # small replay batches
        await feed.open()
        for t in (tenant, other_tenant, tenant):     # live rows, arriving during the replay
            ids += await ainsert(t.pk)
        wanted = await database_sync_to_async(
            lambda: list(Event.objects.filter(tenant=tenant, id__gt=last).order_by("id").values_list("id", flat=True))
        )()
        assert len(wanted) == 13
        got: list[tuple[int, EventRow]] = []
        deadline = time.monotonic() + 20
        while {r.id for _, r in got} != set(wanted):
            assert time.monotonic() < deadline, f"got {[r.id for _, r in got]}, wanted {wanted}"
            got += await feed.get(timeout=0.2)
        assert [r.id for _, r in got] == wanted, "in order, once each, only the tenant's"
        positions = [at for at, _ in got]
        assert positions == sorted(positions) and last <= positions[0] and positions[-1] <= wanted[-1]
        # Gaps (the previous tests' deleted rows) are awaited at most SSE_GAP_SECONDS, then the watermark is the top.
        await until(lambda: feed.advance() == max(ids), timeout=20,
                    what="the watermark to reach the newest row")

        # A client that falls behind is replayed from the database: still no gap.
        assert feed.sub is not None
        feed.sub.limit = 3
        behind = [(await ainsert(tenant.pk))[0] for _ in range(10)]
        await until(lambda: feed.sub is not None and feed.sub.overflowed, what="the queue to overflow")
        caught: list[int] = []
        deadline = time.monotonic() + 20
        while not set(behind) <= set(caught):
            assert time.monotonic() < deadline, f"got {caught}, wanted {behind}"
            caught += [r.id for _, r in await feed.get(timeout=0.2)]
        assert caught == behind
        feed.close()

        # Without a Last-Event-ID: from now on, nothing older.
        fresh = Feed(hub, tenant.pk, None)
        await fresh.open()
        assert fresh.position <= max(ids + behind)
        [new] = await ainsert(tenant.pk)
        deadline = time.monotonic() + 20
        items: list[tuple[int, EventRow]] = []
        while not items:
            assert time.monotonic() < deadline
            items = await fresh.get(timeout=0.2)
        assert [r.id for _, r in items] == [new], "only what happened after the connect"
        fresh.close()
        await until(lambda: hub.mark is None, what="the hub to stop")

    asyncio.run(main())
