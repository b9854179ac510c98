"""One API client's feed: a replay from the database, then the hub's live rows, without a hole between."""

from __future__ import annotations

import asyncio
import logging
from bisect import bisect_right
from collections.abc import Sequence

from channels.db import database_sync_to_async

from .conf import streams_conf
from .hub import EventHub, Lost, QueueSubscription
from .reads import EventRow, fetch_range, resume_problem
from .reset import Reason, Reset

logger = logging.getLogger(__name__)


class Feed:
    """One client's ordered stream: a replay from the database, then the live rows — or a ``Reset``.

    ``get()`` returns ``(id, row)`` pairs, ``id`` being the watermark to send with the row: every
    row of the client's scope with an id ≤ it has been returned, or a reset was (``take_reset``).

    Joining: the subscription is registered first, noting the hub's ``top`` H and watermark W0.
    Rows the hub reads from then on are queued. The replay reads ``Last-Event-ID < id <= H``
    from the database in batches (every row the hub had read by then was committed, so the
    replay sees it); rows above H, and gaps below H the hub was still awaiting, come from the
    queue. Without a Last-Event-ID the feed starts at W0 ("now") and replays nothing.
    A Last-Event-ID the replay cannot serve without a hole (older than the oldest event kept,
    or below an id the hub gave up), or more than ``max_replay`` ids below H (a replay's cost is
    its id span: each query is a primary-key range), starts at W0 too, with a reset first.
    A client whose queue overflows rejoins the same way from the last id it was given (unbounded:
    the server, not the client, fell behind there).
    """

    def __init__(self, hub: EventHub, tenant_id: int | None, last_event_id: int | None, *,
                 batch: int | None = None, max_replay: int | None = None) -> None:
        self.hub = hub
        self.tenant_id = tenant_id
        #: Rows per replay query (the hub's batch unless given).
        self.batch = hub.batch if batch is None else batch
        #: How far below the hub's top a Last-Event-ID may be and still be replayed.
        self.max_replay = streams_conf().SSE_MAX_REPLAY_EVENTS if max_replay is None else max_replay
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
        self._reset: Reset | None = None

    async def open(self) -> None:
        await self._join(self.start, bounded=True)

    async def _join(self, last_event_id: int | None, *, bounded: bool = False) -> None:
        self.sub = QueueSubscription(self.tenant_id)
        joined = await self.hub.subscribe(self.sub)
        problem = None
        if last_event_id is not None and bounded and joined.top - last_event_id > self.max_replay:
            problem = Reason.TOO_FAR_BEHIND  # checked first: no query at all for it
        elif last_event_id is not None:
            problem = await database_sync_to_async(resume_problem)(last_event_id, joined.horizon)
        if problem is Reason.AHEAD:
            self.position = 0  # the client's id is not ours: the stream's ids go on from the hub's
        if problem is not None:
            logger.info("event stream: cannot resume from %d (%s); resetting the client", last_event_id,
                        problem.value)
            self._reset = Reset(problem, max(self.position, joined.low))
        if last_event_id is None or problem is not None:
            self._floor = joined.low
            self.position = max(self.position, joined.low)
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

    def take_reset(self) -> Reset | None:
        """The reset to send now, after the rows ``get()`` returned (then live from its ``id:``)."""
        reset, self._reset = self._reset, None
        return reset

    def advance(self) -> int:
        """Move ``position`` up to the hub's watermark when nothing is queued for us (rows of other
        tenants and given-up ids move it too); return it. For an ``id:`` with no row (a heartbeat)."""
        if self._replay_after is not None or self._reset is not None or self.sub is None:
            return self.position
        queue = self.sub.queue
        while queue and isinstance(queue[0], Lost) and not self._missed(queue[0]):
            queue.popleft()  # given-up ids this client was not owed: nothing to send
        if not queue and not self.sub.overflowed:
            self.position = max(self.position, self.hub.low)
        return self.position

    async def get(self, timeout: float, limit: int = 500) -> list[tuple[int, EventRow]]:
        """The next rows (at most ``limit``), waiting up to ``timeout`` seconds; [] when none came.

        Stops early at ids the hub gave up that the client may have missed: ``take_reset()``
        then returns the reset, to be sent before anything that follows.
        """
        if self.sub is None:
            raise RuntimeError("open() the feed first")
        if self._reset is not None:
            return []
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
            item = self.sub.queue.popleft()
            if isinstance(item, Lost):
                if self._missed(item):
                    self.position = max(self.position, item.low)
                    self._reset = Reset(item.reason, self.position)
                    break
                continue
            row, low = item
            if row.id <= self._floor or row.id in self._replayed:
                continue  # the client has it already (before its Last-Event-ID, or from the replay)
            self.position = max(self.position, low)
            out.append((self.position, row))
        return out

    def _missed(self, lost: Lost) -> bool:
        """Whether a given-up id is one this client was owed: above its floor and not found by its replay."""
        above = len(lost.ids) - bisect_right(lost.ids, self._floor)
        found = sum(1 for g in self._replayed if g > self._floor and _holds(lost.ids, g))
        return above > found

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


def _holds(ids: Sequence[int], value: int) -> bool:
    i = bisect_right(ids, value)
    return i > 0 and ids[i - 1] == value
