"""One API client's feed: the replay from the database joins the live rows without a gap, or a reset says so."""

import asyncio
import time
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from jobs.conf import conf
from jobs.models import Event
from jobs.services.maintenance import prune_side_tables
from jobs.streams.feed import Feed
from jobs.streams.hub import EventHub
from jobs.streams.reads import EventRow
from jobs.streams.reset import Reason, Reset
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


async def next_items(feed: Feed, timeout: float = 20) -> list[tuple[int, EventRow]]:
    deadline = time.monotonic() + timeout
    while not (items := await feed.get(timeout=0.2)):
        assert time.monotonic() < deadline, "no rows came"
    return items


async def next_reset(feed: Feed, timeout: float = 20) -> tuple[list[int], Reset]:
    """Rows until the feed owes a reset; (their ids, the reset)."""
    deadline = time.monotonic() + timeout
    ids: list[int] = []
    while (reset := feed.take_reset()) is None:
        assert time.monotonic() < deadline, f"no reset came (rows {ids})"
        ids += [r.id for _, r in await feed.get(timeout=0.2)]
    return ids, reset


def test_a_given_up_id_resets_the_feeds_that_may_have_missed_it(tenant) -> None:
    async def main() -> None:
        hub = EventHub(poll_seconds=0.05, gap_seconds=1.5)
        feed = Feed(hub, tenant.pk, None)
        await feed.open()
        await until(lambda: hub.mark is not None and not hub.mark.gaps, what="the start-up gaps to go")
        if feed.sub and feed.sub.queue:
            await next_reset(feed)                    # (the resets for those)
        await ainsert(tenant.pk, hub.low + 1)
        b = (await next_items(feed))[-1][1].id
        await ainsert(tenant.pk, b + 2)               # b+1 never commits
        assert [r.id for _, r in await next_items(feed)] == [b + 2]
        assert feed.position == b and feed.advance() == b, "the watermark waits below the gap"

        # A client that reconnected past the gap (it had b+1 or its reset from elsewhere) is not reset again.
        ahead = Feed(hub, tenant.pk, b + 2)
        await ahead.open()

        rows, reset = await next_reset(feed)
        assert rows == [] and reset.reason is Reason.GAP_TIMEOUT
        assert reset.id == b + 2 == feed.position, "the reset's id: moves past the given-up id"
        [new] = await ainsert(tenant.pk)
        assert [r.id for _, r in await next_items(feed)] == [new], "then live, as before"
        assert [r.id for _, r in await next_items(ahead)] == [new] and ahead.take_reset() is None

        # A reconnect from below the given-up id cannot be replayed without a hole: reset, then live.
        # (No replay-depth bound here: ids an earlier test's rolled-back rows used leave ``b`` far
        # below the newest id on MariaDB, which would be the too_far_behind reset instead.)
        late = Feed(hub, tenant.pk, b, max_replay=10**9)
        await late.open()
        reset = late.take_reset()
        assert reset is not None and reset.reason is Reason.UNVERIFIED and reset.id >= b + 2
        [newer] = await ainsert(tenant.pk)
        assert [r.id for _, r in await next_items(late)] == [newer], "nothing replayed, live from now"
        for f in (feed, ahead, late):
            f.close()

    asyncio.run(main())


def test_a_last_event_id_older_than_the_retention_resets_first(tenant) -> None:
    def pruned_history() -> tuple[list[int], list[int]]:
        old = timezone.now() - timedelta(seconds=conf().EVENT_RETENTION_SECONDS + 60)
        gone = [Event.objects.create(tenant=tenant, changes=[{"event": "old"}], created_at=old).pk for _ in range(5)]
        kept = [Event.objects.create(tenant=tenant, changes=[{"event": "kept"}]).pk for _ in range(3)]
        assert prune_side_tables() >= 5
        assert Event.objects.order_by("id").values_list("id", flat=True)[0] == kept[0]
        return gone, kept

    async def main() -> None:
        gone, kept = await database_sync_to_async(pruned_history)()
        hub = EventHub(poll_seconds=0.05, gap_seconds=1.0)

        # Resuming from just before the oldest event kept: a replay, no reset.
        fine = Feed(hub, tenant.pk, kept[0] - 1)
        await fine.open()
        assert fine.take_reset() is None
        assert [r.id for _, r in await next_items(fine)] == kept

        stale = Feed(hub, tenant.pk, gone[1])  # the events after it were pruned
        await stale.open()
        reset = stale.take_reset()
        assert reset is not None and reset.reason is Reason.RETENTION
        assert reset.id == stale.position <= kept[-1]
        [new] = await ainsert(tenant.pk)
        assert [r.id for _, r in await next_items(stale)] == [new], "live from now, not a replay of what is left"
        fine.close()
        stale.close()

    asyncio.run(main())
