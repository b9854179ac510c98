"""The hub against the database: one poll per round, fanned out; out-of-order, late and rolled-back commits."""

import asyncio
import json
import threading
import time
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.db import connection, transaction

from jobs.models import Event
from jobs.streams import hub as hub_module
from jobs.streams.hub import CoalescingSubscription, EventHub, QueueSubscription
from jobs.streams.reads import EventRow, gap_condition
from jobs.streams.reset import Reason
from tests.support.outbox import ainsert, drain, lost, until

pytestmark = pytest.mark.django_db(transaction=True)


def test_hub_delivers_out_of_order_commits_once_and_gives_up_burned_ids(tenant, other_tenant) -> None:
    async def main() -> None:
        hub = EventHub(poll_seconds=0.05, gap_seconds=1.0)
        everything, mine = QueueSubscription(None), QueueSubscription(tenant.pk)
        console = CoalescingSubscription(keep=5)
        joined = await hub.subscribe(everything)
        await hub.subscribe(mine)
        # Ids deleted by earlier tests look like in-flight ones to a starting hub: wait them out.
        await until(lambda: hub.low == joined.top, what="the start-up gaps to be given up")
        b = joined.top
        assert hub.mark is not None
        given_up = hub.mark.given_up
        everything.queue.clear()  # (the resets for those)
        mine.queue.clear()
        await hub.subscribe(console)

        await ainsert(tenant.pk, b + 2)              # b+1 is still "in flight"
        [(row, low)] = await drain(everything, 1)
        assert row.id == b + 2 and low == b, "the watermark stays below the missing id"
        await ainsert(other_tenant.pk, b + 1)         # …and commits late
        [(row, low)] = await drain(everything, 1)
        assert (row.id, low) == (b + 1, b + 2)
        assert [r.id for r, _ in await drain(mine, 1)] == [b + 2], "tenant filter"

        await ainsert(tenant.pk, b + 4)              # b+3 never commits (a rollback burned it)
        [(row, low)] = await drain(everything, 1)
        assert (row.id, low) == (b + 4, b + 2)
        await until(lambda: hub.low == b + 4, what="the burned id to be given up")
        assert hub.mark is not None and hub.mark.given_up == given_up + 1
        assert hub.horizon == b + 3
        await asyncio.sleep(0.2)
        # Given up, never skipped silently: every subscriber is told (a missing row's tenant is unknown).
        for sub in (everything, mine):
            [mark] = lost(sub)
            assert (mark.reason, list(mark.ids), mark.low) == (Reason.GAP_TIMEOUT, [b + 3], b + 4)
        assert console.reset is Reason.GAP_TIMEOUT
        assert not everything.rows(), "nothing is delivered twice"
        assert json.loads(row.data) == {"seq": b + 4, "tenant": "acme", "changes": [{"event": "test", "id": b + 4}]}

        for sub in (everything, mine, console):
            hub.unsubscribe(sub)
        await until(lambda: hub.mark is None, what="the hub to stop polling")
        polls = hub.polls
        await asyncio.sleep(0.3)
        assert hub.polls == polls, "no subscriber, no polling"

    asyncio.run(main())


def test_hub_polls_once_per_round_whatever_the_number_of_subscribers(tenant, monkeypatch) -> None:
    calls = []
    real = hub_module.fetch_new

    def counting(*args: Any) -> list[EventRow]:
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(hub_module, "fetch_new", counting)

    async def main() -> None:
        hub = EventHub(poll_seconds=0.1)
        subs = [QueueSubscription(tenant.pk) for _ in range(8)]
        for sub in subs:
            await hub.subscribe(sub)
        await ainsert(tenant.pk)
        for sub in subs:
            assert len(await drain(sub, 1)) == 1
        started, before = time.monotonic(), len(calls)
        await asyncio.sleep(1.0)
        elapsed = time.monotonic() - started
        assert len(calls) - before <= elapsed / 0.1 + 2, "one query per round, not one per subscriber"
        assert hub.polls <= len(calls) <= hub.polls + 1  # (+1: a query may be in flight)
        for sub in subs:
            hub.unsubscribe(sub)

    asyncio.run(main())


@pytest.mark.mariadb
def test_hub_with_real_concurrent_transactions_committing_out_of_order(tenant) -> None:
    """MariaDB: a transaction holding a lower id commits after a higher one; another rolls back."""
    inserted: list[int] = []
    ready, release = threading.Event(), threading.Event()

    class Rollback(Exception):
        pass

    def slow_transaction(commit: bool) -> None:
        from django.db import connection

        try:
            with transaction.atomic():
                inserted.append(Event.objects.create(tenant_id=tenant.pk, changes=[{"event": "slow"}]).pk)
                ready.set()
                release.wait(30)
                if not commit:
                    raise Rollback
        except Rollback:
            pass
        finally:
            connection.close()

    async def main() -> None:
        # Long enough that a loaded machine never gives up on the slow transaction before it commits.
        hub = EventHub(poll_seconds=0.05, gap_seconds=8)
        sub = QueueSubscription(None)
        await hub.subscribe(sub)
        for commit in (True, False):
            ready.clear()
            release.clear()
            inserted.clear()
            thread = threading.Thread(target=slow_transaction, args=(commit,))
            thread.start()
            await until(ready.is_set, what="the slow transaction to insert")
            [fast] = await ainsert(tenant.pk)
            slow = inserted[0]
            assert fast > slow
            [(row, low)] = await drain(sub, 1)
            assert row.id == fast and low < slow, "the uncommitted lower id holds the watermark back"
            release.set()
            await asyncio.to_thread(thread.join, 30)
            if commit:
                [(row, low)] = await drain(sub, 1)
                assert row.id == slow and low <= fast  # (older gaps — deleted rows — may still be awaited)
                await until(lambda f=fast: hub.low >= f, what="the watermark to pass both")  # type: ignore[misc]
            else:
                await until(lambda f=fast: hub.low >= f, what="the rolled-back id to be given up")  # type: ignore[misc]
                assert not sub.rows(), "nothing delivered for it…"
                assert any(slow in m.ids and m.reason is Reason.GAP_TIMEOUT for m in lost(sub)), "…but announced"
        hub.unsubscribe(sub)

    asyncio.run(main())



def test_hub_delivers_a_commit_later_than_the_old_five_second_give_up(tenant) -> None:
    """Id b+1 shows up 6 s after b+2 (past the old 5 s give-up, inside this hub's 12 s maximum)."""

    async def main() -> None:
        hub = EventHub(poll_seconds=0.05, gap_seconds=12)
        sub = QueueSubscription(None)
        joined = await hub.subscribe(sub)
        await until(lambda: not hub.mark or not hub.mark.gaps, timeout=30, what="the start-up gaps to go")
        sub.queue.clear()
        b = max(joined.top, hub.low)
        await ainsert(tenant.pk, b + 2)
        [(row, low)] = await drain(sub, 1)
        assert (row.id, low) == (b + 2, b)
        await asyncio.sleep(6.0)
        assert hub.low == b, "still waiting for b+1"
        await ainsert(tenant.pk, b + 1)
        [(row, low)] = await drain(sub, 1)
        assert (row.id, low) == (b + 1, b + 2), "delivered live, 6 s late"
        assert not lost(sub)
        hub.unsubscribe(sub)

    asyncio.run(main())


def test_hub_delivers_more_than_500_simultaneous_gaps(tenant, settings, monkeypatch) -> None:
    """1,200 gaps at once (more than the old capped list, and than the poll's ranges): every one delivered."""
    settings.JOBS = {**settings.JOBS, "SSE_GAP_RANGES": 50}  # merges, so rows already seen are read again
    count = 1200
    calls: list[int] = []
    real = hub_module.fetch_new

    def counting(top: int, ranges: list[tuple[int, int]], *args: Any) -> list[EventRow]:
        calls.append(len(ranges))
        return real(top, ranges, *args)

    def bulk(ids: range) -> None:
        Event.objects.bulk_create(Event(id=i, tenant_id=tenant.pk, changes=[{"event": "test", "id": i}]) for i in ids)

    async def main() -> None:
        hub = EventHub(poll_seconds=0.05, gap_seconds=120, batch=100)  # small batches: the sweep must progress
        sub = QueueSubscription(None)
        joined = await hub.subscribe(sub)
        b = joined.top
        await database_sync_to_async(bulk)(range(b + 2, b + 2 * count + 1, 2))  # every odd one missing
        evens = [r.id for r, _ in await drain(sub, count)]
        assert evens == list(range(b + 2, b + 2 * count + 1, 2))
        assert hub.mark is not None and len(hub.mark.gaps) >= count and hub.low <= b
        await database_sync_to_async(bulk)(range(b + 1, b + 2 * count, 2))  # …and all commit late
        odds = [r.id for r, _ in await drain(sub, count)]
        assert sorted(odds) == list(range(b + 1, b + 2 * count, 2)), "every gap delivered, once"
        await until(lambda: hub.low >= b + 2 * count, what="the watermark to pass them all")
        await asyncio.sleep(0.2)
        assert not sub.queue and hub.mark is not None and hub.mark.given_up == 0, "nothing given up or repeated"
        assert max(calls) <= 50, "one bounded query per poll"
        hub.unsubscribe(sub)

    monkeypatch.setattr(hub_module, "fetch_new", counting)
    asyncio.run(main())


@pytest.mark.mariadb
def test_the_gap_poll_reads_primary_key_ranges(tenant) -> None:
    Event.objects.bulk_create(Event(tenant_id=tenant.pk, changes=[]) for _ in range(2000))
    top = Event.objects.order_by("-id").values_list("id", flat=True)[0]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE TABLE jobs_event")
        cursor.fetchall()
    ranges = [(top - 1500, top - 1400), (top - 900, top - 900), (top - 10, top - 8)]
    sql, params = Event.objects.filter(gap_condition(top - 5, ranges)).order_by("id")[:1000].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN FORMAT=JSON " + sql, params)
        plan = json.loads(cursor.fetchone()[0])
    text = json.dumps(plan)
    table = plan["query_block"].get("table") or plan["query_block"]["nested_loop"][0]["table"]
    assert table["table_name"] == "jobs_event" and table["key"] == "PRIMARY", plan
    assert table["access_type"] == "range" and "filesort" not in text, plan
