"""One API client's feed: a replay from the database, then the hub's live rows, without a hole between."""

from __future__ import annotations

import asyncio
import logging

from channels.db import database_sync_to_async

from .hub import EventHub, QueueSubscription
from .watermark import EventRow, fetch_range

logger = logging.getLogger(__name__)


class Feed:
    """One client's ordered, lossless stream: a replay from the database, then the live rows.

    ``get()`` returns ``(id, row)`` pairs, ``id`` being the watermark to send with the row: every
    row of the client's scope with an id ≤ it has been returned (or given up by the hub).

    Joining: the subscription is registered first, noting the hub's ``top`` H and watermark W0.
    Rows the hub reads from then on are queued. The replay reads ``Last-Event-ID < id <= H``
    from the database in batches (every row the hub had read by then was committed, so the
    replay sees it); rows above H, and gaps below H the hub was still awaiting, come from the
    queue. Without a Last-Event-ID the feed starts at W0 ("now") and replays nothing.
    A client whose queue overflows rejoins the same way from the last id it was given.
    """

    def __init__(self, hub: EventHub, tenant_id: int | None, last_event_id: int | None, *,
                 batch: int | None = None) -> None:
        self.hub = hub
        self.tenant_id = tenant_id
        #: Rows per replay query (the hub's batch unless given).
        self.batch = hub.batch if batch is None else batch
        self.start = last_event_id
        #: The last watermark returned: a valid Last-Event-ID for this client.
        self.position = last_event_id or 0
        self.sub: QueueSubscription | None = None
        self._floor = 0                     # rows at or below it are the client's already
        self._replay_after: int | None = None
        self._replay_upto = 0
        self._replay_low = 0
        self._awaited: frozenset[int] = frozenset()
        self._replayed: set[int] = set()    # awaited gaps the replay found (skip them live)

    async def open(self) -> None:
        await self._join(self.start)

    async def _join(self, last_event_id: int | None) -> None:
        self.sub = QueueSubscription(self.tenant_id)
        joined = await self.hub.subscribe(self.sub)
        if last_event_id is None:
            self._floor = joined.low
            self.position = joined.low
            self._replay_after = None
        else:
            self._floor = last_event_id
            self.position = last_event_id
            self._replay_after = last_event_id if last_event_id < joined.top else None
        self._replay_upto = joined.top
        self._replay_low = joined.low
        self._awaited = frozenset(g for g in joined.gaps if g > self._floor)
        self._replayed = set()

    def close(self) -> None:
        if self.sub is not None:
            self.hub.unsubscribe(self.sub)
            self.sub = None

    def advance(self) -> int:
        """Move ``position`` up to the hub's watermark when nothing is queued for us (rows of other
        tenants and given-up ids move it too); return it. For an ``id:`` with no row (a heartbeat)."""
        if self._replay_after is None and self.sub is not None and not self.sub.queue and not self.sub.overflowed:
            self.position = max(self.position, self.hub.low)
        return self.position

    async def get(self, timeout: float, limit: int = 500) -> list[tuple[int, EventRow]]:
        """The next rows (at most ``limit``), waiting up to ``timeout`` seconds; [] when none came."""
        if self.sub is None:
            raise RuntimeError("open() the feed first")
        if self._replay_after is not None:
            return await self._replay(self._replay_after)
        if self.sub.overflowed:
            logger.info("event stream: a client fell %d rows behind; replaying from %d", self.sub.limit,
                        self.position)
            self.close()
            await self._join(self.position)
            return await self.get(timeout, limit)
        if not self.sub.queue:
            self.sub.ready.clear()
            try:
                await asyncio.wait_for(self.sub.ready.wait(), timeout)
            except TimeoutError:
                return []
            if self.sub.overflowed:
                return await self.get(0, limit)
        out: list[tuple[int, EventRow]] = []
        while self.sub.queue and len(out) < limit:
            row, low = self.sub.queue.popleft()
            if row.id <= self._floor or row.id in self._replayed:
                continue  # the client has it already (before its Last-Event-ID, or from the replay)
            self.position = max(self.position, low)
            out.append((self.position, row))
        return out

    async def _replay(self, after: int) -> list[tuple[int, EventRow]]:
        rows = await database_sync_to_async(fetch_range)(self.tenant_id, after, self._replay_upto, self.batch)
        out: list[tuple[int, EventRow]] = []
        for row in rows:
            if row.id in self._awaited:
                self._replayed.add(row.id)
            # Every id ≤ min(row, W0) was committed before the replay began, so it is in this replay.
            self.position = max(self.position, min(row.id, self._replay_low))
            out.append((self.position, row))
        if len(rows) < self.batch:
            self._replay_after = None
        else:
            self._replay_after = rows[-1].id
        return out
