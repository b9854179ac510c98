"""The per-process hub of the live event streams: one poll of the outbox, fanned out to every subscriber.

While anyone is subscribed, one asyncio task per process (per event loop) reads the new
``Event`` rows every ``SSE_POLL_SECONDS`` with ONE query, whatever the number of clients,
tracks them with a ``Watermark`` (out-of-order commits, rollbacks) and hands each row to
every subscriber: an API client's ``Feed`` (filtered by tenant, lossless) or a console
stream (everything, coalesced).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async

from .conf import streams_conf
from .watermark import EventRow, Watermark, fetch_new, fetch_start

logger = logging.getLogger(__name__)


# -- subscribers -------------------------------------------------------------------------------------------


class Subscription:
    """Something the hub hands rows to. ``offer`` runs on the event loop and must not block."""

    tenant_id: int | None = None

    def wants(self, row: EventRow) -> bool:
        return self.tenant_id is None or self.tenant_id == row.tenant_id

    def offer(self, row: EventRow, low: int) -> None:
        raise NotImplementedError


class QueueSubscription(Subscription):
    """An API client's: every row of its tenant (or all), with the watermark after it, in order."""

    def __init__(self, tenant_id: int | None, *, limit: int | None = None) -> None:
        self.tenant_id = tenant_id
        self.limit = limit or streams_conf().SSE_QUEUE_LIMIT
        self.queue: deque[tuple[EventRow, int]] = deque()
        self.ready = asyncio.Event()
        #: The client fell too far behind: its queue was dropped and it must replay from the database.
        self.overflowed = False

    def offer(self, row: EventRow, low: int) -> None:
        if self.overflowed or not self.wants(row):
            return
        if len(self.queue) >= self.limit:
            self.overflowed = True
            self.queue.clear()
        else:
            self.queue.append((row, low))
        self.ready.set()


class CoalescingSubscription(Subscription):
    """The console's: a count of what happened and the latest ``keep`` changes, never a backlog."""

    def __init__(self, tenant_id: int | None = None, *, keep: int) -> None:
        self.tenant_id = tenant_id
        self.recent: deque[dict[str, Any]] = deque(maxlen=keep)
        self.dirty = False
        self.rows = 0
        self.counts: dict[str, int] = {}

    def offer(self, row: EventRow, low: int) -> None:
        if not self.wants(row):
            return
        self.dirty = True
        self.rows += 1
        for change in row.changes[-(self.recent.maxlen or 0):]:
            self.recent.append({**change, "seq": row.id, "tenant": row.tenant})
        for change in row.changes:
            name = str(change.get("event", ""))
            self.counts[name] = self.counts.get(name, 0) + 1

    def take_recent(self) -> list[dict[str, Any]]:
        out = list(self.recent)
        self.recent.clear()
        return out


@dataclass(frozen=True, slots=True)
class Joined:
    """Where the hub stood when a subscriber joined: ``top`` (highest id read) and ``low`` (watermark)."""

    top: int
    low: int
    gaps: frozenset[int] = field(default_factory=frozenset)


# -- the hub -----------------------------------------------------------------------------------------------


class EventHub:
    """Polls the outbox while it has subscribers and fans rows out to them (one per event loop).

    Intervals and sizes not given come from ``streams_conf()``.
    """

    def __init__(self, *, poll_seconds: float | None = None, gap_seconds: float | None = None,
                 batch: int | None = None) -> None:
        conf = streams_conf()
        self.poll_seconds = conf.SSE_POLL_SECONDS if poll_seconds is None else poll_seconds
        self.gap_seconds = conf.SSE_GAP_SECONDS if gap_seconds is None else gap_seconds
        self.batch = conf.SSE_BATCH if batch is None else batch
        self.lookback = conf.SSE_STARTUP_LOOKBACK
        self.subscribers: set[Subscription] = set()
        self.mark: Watermark | None = None
        self.polls = 0
        self._task: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()

    @property
    def low(self) -> int:
        return self.mark.low if self.mark is not None else 0

    async def subscribe(self, sub: Subscription) -> Joined:
        """Add ``sub``, starting the poller if it is the first; rows read from now on are offered to it."""
        if self.mark is None:
            async with self._starting:
                if self.mark is None:
                    top, gaps = await database_sync_to_async(fetch_start)(self.lookback)
                    self.mark = Watermark(top, gaps=gaps, gap_seconds=self.gap_seconds)
                    self._task = asyncio.get_running_loop().create_task(self._run(), name="event-hub")
                    logger.info("event hub: polling from event %d (%d gap(s) awaited)", top, len(gaps))
        mark = self._current()
        # No await between the snapshot and the registration: nothing read in between is missed.
        self.subscribers.add(sub)
        return Joined(top=mark.top, low=mark.low, gaps=frozenset(mark.gaps))

    def _current(self) -> Watermark:
        if self.mark is None:
            raise RuntimeError("the event hub is not running")
        return self.mark

    def unsubscribe(self, sub: Subscription) -> None:
        self.subscribers.discard(sub)

    async def _run(self) -> None:
        try:
            while self.subscribers:
                full = False
                try:
                    full = await self.poll()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("event hub: the outbox poll failed; retrying")
                    await asyncio.sleep(max(1.0, self.poll_seconds))
                    continue
                if not full:
                    await asyncio.sleep(self.poll_seconds)
        finally:
            # Nobody listens (or the loop is going away): forget everything; a new subscriber starts afresh.
            logger.info("event hub: stopped polling (no subscribers) after %d poll(s)", self.polls)
            self.mark = None
            self._task = None

    async def poll(self) -> bool:
        """One round: read, track, fan out. True when the batch came back full (more is waiting)."""
        after, gaps = self._current().wanted()
        rows = await database_sync_to_async(fetch_new)(after, gaps, self.batch)
        self.polls += 1
        self.dispatch(rows)
        return len(rows) >= self.batch

    def dispatch(self, rows: list[EventRow]) -> None:
        """Track ``rows`` (in id order) and offer each new one, with the watermark after it, to everyone."""
        mark = self._current()
        subscribers = list(self.subscribers)
        for row in rows:
            if not mark.accept(row.id):
                continue
            low = mark.low
            for sub in subscribers:
                try:
                    sub.offer(row, low)
                except Exception:
                    logger.exception("event hub: a subscriber failed; dropping it")
                    self.subscribers.discard(sub)
        # After the rows: a gap that filled in this very batch is delivered, not given up.
        expired = mark.expire()
        if expired:
            logger.debug("event hub: gave up waiting for event id(s) %s", expired[:20])


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, EventHub] = weakref.WeakKeyDictionary()


def get_hub() -> EventHub:
    """This process's hub (one per running event loop)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = EventHub()
    return hub
