"""The per-process hub of the live event streams: one poll of the outbox, fanned out to every subscriber.

While anyone is subscribed, one asyncio task per process (per event loop) reads the new
``Event`` rows every ``SSE_POLL_SECONDS`` with ONE query, whatever the number of clients,
tracks them with a ``Watermark`` (out-of-order commits, rollbacks) and hands each row to
every subscriber: an API client's ``Feed`` (filtered by tenant, lossless) or a console
stream (everything, coalesced). When the watermark gives ids up, every subscriber is told
(``Subscription.lose``), in order with the rows, so that its stream sends a ``reset``.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import methodcaller
from typing import Any

from channels.db import database_sync_to_async

from .conf import streams_conf
from .reads import EventRow, fetch_new, fetch_start
from .reset import Reason
from .watermark import GivenUp, Watermark

logger = logging.getLogger(__name__)


# -- subscribers -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lost:
    """Ids the hub gave up (of any tenant: a missing row's is unknown), and the watermark after them."""

    reason: Reason
    ids: Sequence[int]
    low: int


class Subscription:
    """Something the hub hands rows to. ``offer`` and ``lose`` run on the event loop and must not block."""

    tenant_id: int | None = None

    def wants(self, row: EventRow) -> bool:
        return self.tenant_id is None or self.tenant_id == row.tenant_id

    def offer(self, row: EventRow, low: int) -> None:
        raise NotImplementedError

    def lose(self, lost: Lost) -> None:
        raise NotImplementedError


class QueueSubscription(Subscription):
    """An API client's: every row of its tenant (or all), with the watermark after it, in order."""

    def __init__(self, tenant_id: int | None, *, limit: int | None = None) -> None:
        self.tenant_id = tenant_id
        self.limit = limit or streams_conf().SSE_QUEUE_LIMIT
        #: rows with the watermark after each, and ``Lost`` marks where ids were given up
        self.queue: deque[tuple[EventRow, int] | Lost] = deque()
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

    def lose(self, lost: Lost) -> None:
        if self.overflowed:
            return  # its rejoin checks the hub's horizon instead
        self.queue.append(lost)
        self.ready.set()

    def rows(self) -> list[tuple[EventRow, int]]:
        """The rows queued (not the ``Lost`` marks)."""
        return [item for item in self.queue if not isinstance(item, Lost)]


class CoalescingSubscription(Subscription):
    """The console's: a count of what happened and the latest ``keep`` changes, never a backlog."""

    def __init__(self, tenant_id: int | None = None, *, keep: int) -> None:
        self.tenant_id = tenant_id
        self.recent: deque[dict[str, Any]] = deque(maxlen=keep)
        self.dirty = False
        self.rows = 0
        self.counts: dict[str, int] = {}
        #: Why the hub gave ids up since the stream last looked: it must send a full snapshot.
        self.reset: Reason | None = None

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

    def lose(self, lost: Lost) -> None:
        # A coalesced stream joined "now", below every gap: any id given up may be one it missed.
        self.reset = self.reset or lost.reason
        self.dirty = True

    def take_recent(self) -> list[dict[str, Any]]:
        out = list(self.recent)
        self.recent.clear()
        return out


@dataclass(frozen=True, slots=True)
class Joined:
    """Where the hub stood when a subscriber joined: ``top`` (highest id read), ``low`` (watermark),
    the awaited ``gaps`` and the ``horizon`` (highest id given up or not tracked)."""

    top: int
    low: int
    gaps: frozenset[int] = field(default_factory=frozenset)
    horizon: int = 0


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
        self.span = conf.SSE_MAX_GAP_SPAN
        self.subscribers: set[Subscription] = set()
        self.mark: Watermark | None = None
        self.polls = 0
        #: Within a sweep of full batches: the last id read (the next batch reads above it).
        self._sweep = 0
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
                    start = await database_sync_to_async(fetch_start)(self.gap_seconds, self.span)
                    self.mark = Watermark(start.top, gaps=start.gaps, ages=start.gaps, floor=start.floor,
                                          gap_seconds=self.gap_seconds)
                    self._sweep = 0
                    self._task = asyncio.get_running_loop().create_task(self._run(), name="event-hub")
                    logger.info("event hub: polling from event %d (%d gap(s) awaited)", start.top,
                                len(self.mark.gaps))
        mark = self._current()
        # No await between the snapshot and the registration: nothing read in between is missed.
        self.subscribers.add(sub)
        return Joined(top=mark.top, low=mark.low, gaps=frozenset(mark.gaps), horizon=mark.horizon)

    @property
    def horizon(self) -> int:
        return self.mark.horizon if self.mark is not None else 0

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
        """One round: read, track, fan out. True when the batch came back full (more is waiting).

        The gap ranges may hold rows already seen (merged between gaps), so a full batch is
        followed by one reading above its last id — every batch makes progress — until a
        batch comes back short and the next round starts from the bottom again.
        """
        top, ranges = self._current().wanted()
        rows = await database_sync_to_async(fetch_new)(top, ranges, self.batch, self._sweep)
        self.polls += 1
        full = len(rows) >= self.batch
        self._sweep = rows[-1].id if full else 0
        self.dispatch(rows)
        return full

    def dispatch(self, rows: list[EventRow]) -> None:
        """Track ``rows`` (in id order) and offer each new one, with the watermark after it, to everyone."""
        mark = self._current()
        for row in rows:
            if not mark.accept(row.id):
                continue
            if mark.pending:  # a jump gave ids up: subscribers hear it before this row
                self._announce(mark.take())
            low = mark.low
            self._each(methodcaller("offer", row, low))
        # After the rows: a gap that filled in this very batch is delivered, not given up.
        self._announce(mark.expire())

    def _announce(self, given_up: list[GivenUp]) -> None:
        low = self._current().low
        for batch in given_up:
            logger.warning("event hub: gave up %d event id(s) (%s, %d…%d); resetting %d stream(s)",
                           len(batch.ids), batch.reason.value, batch.ids[0], batch.ids[-1], len(self.subscribers))
            lost = Lost(batch.reason, batch.ids, low)
            self._each(methodcaller("lose", lost))

    def _each(self, call: Callable[[Subscription], None]) -> None:
        for sub in list(self.subscribers):
            try:
                call(sub)
            except Exception:
                logger.exception("event hub: a subscriber failed; dropping it")
                self.subscribers.discard(sub)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, EventHub] = weakref.WeakKeyDictionary()


def get_hub() -> EventHub:
    """This process's hub (one per running event loop)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = EventHub()
    return hub
