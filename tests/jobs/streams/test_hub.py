"""The hub against the database: one poll per round, fanned out; out-of-order and rolled-back commits."""

import asyncio
import json
import threading
import time
from typing import Any

import pytest
from django.db import transaction

from jobs.models import Event
from jobs.streams import hub as hub_module
from jobs.streams.hub import EventHub, QueueSubscription
from jobs.streams.watermark import EventRow
from tests.support.outbox import ainsert, drain, until

pytestmark = pytest.mark.django_db(transaction=True)


def test_hub_delivers_out_of_order_commits_once_and_gives_up_burned_ids(tenant, other_tenant) -> None:
    async def main() -> None:
        hub = EventHub(poll_seconds=0.05, gap_seconds=1.0)
        everything, mine = QueueSubscription(None), QueueSubscription(tenant.pk)
        joined = await hub.subscribe(everything)
        await hub.subscribe(mine)
        # Ids deleted by earlier tests look like in-flight ones to a starting hub: wait them out.
        await until(lambda: hub.low == joined.top, what="the start-up gaps to be given up")
        b = joined.top

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
        assert hub.mark is not None and hub.mark.given_up == 1
        await asyncio.sleep(0.2)
        assert not everything.queue, "nothing is delivered twice"
        assert json.loads(row.data) == {"seq": b + 4, "tenant": "acme", "changes": [{"event": "test", "id": b + 4}]}

        hub.unsubscribe(everything)
        hub.unsubscribe(mine)
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
                assert not sub.queue
        hub.unsubscribe(sub)

    asyncio.run(main())

