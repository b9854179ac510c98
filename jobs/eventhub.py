"""The per-process hub of the live event streams: one poll of the outbox, fanned out to every subscriber.

While anyone is subscribed, one asyncio task per process (per event loop) reads the new
``Event`` rows every ``POLL_SECONDS`` with ONE query, whatever the number of clients, and
hands each row to every subscriber: an API client's ``Feed`` (filtered by tenant, lossless)
or a console stream (everything, coalesced).

Auto-increment ids do not become visible in order: id 11 may commit before id 10, and 10
may never commit (its transaction rolled back). ``Watermark`` therefore tracks

* ``top``: the highest id seen;
* ``gaps``: ids below ``top`` not seen yet; they are asked for again with every poll for up
  to ``GAP_SECONDS``, then given up;
* ``low``: the highest id W such that every id ≤ W has been seen or given up.

``low`` is what the streams send as the SSE ``id:``: a client that reconnects with
``Last-Event-ID: W`` is replayed every row with an id above W (a row may arrive twice —
clients dedupe by ``seq``, the row id — but none is skipped). See ``Feed`` for how a
reconnect's replay from the database joins the live feed without a hole between them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async
from django.db.models import Max, Q

from .models import Event

logger = logging.getLogger(__name__)

#: Poll interval of the hub while someone is subscribed, seconds.
POLL_SECONDS = 0.25
#: How long a missing id is waited for before it is given up (its transaction rolled back), seconds.
GAP_SECONDS = 5.0
#: Rows read per query (the live poll and each replay batch).
BATCH = 1000
#: A jump of more missing ids than this tracks only the nearest ones (the rest cannot be in flight).
MAX_GAP_SPAN = 10_000
#: Up to this many gaps (the newest: ids of transactions most likely still in flight, rather than
#: long-deleted rows seen at start-up) are asked for per poll; older ones simply run out their time.
MAX_GAP_IDS = 500
#: At start-up, ids missing among the newest this many are treated as gaps (they may be in flight).
STARTUP_LOOKBACK = 1000
#: Rows queued for one API client before it falls back to a replay from the database.
QUEUE_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class EventRow:
    """One outbox row as the streams send it; ``data`` is its JSON, serialised once for every client."""

    id: int
    tenant_id: int
    tenant: str
    changes: list[dict[str, Any]]
    data: str

    @classmethod
    def build(cls, pk: int, tenant_id: int, slug: str, changes: Any) -> EventRow:
        changes = changes if isinstance(changes, list) else []
        data = json.dumps({"seq": pk, "tenant": slug, "changes": changes}, default=str)
        return cls(id=pk, tenant_id=tenant_id, tenant=slug, changes=changes, data=data)


# -- the database side (synchronous; called through database_sync_to_async) --------------------------------

_COLUMNS = ("id", "tenant_id", "tenant__slug", "changes")


def _rows(qs: Any) -> list[EventRow]:
    return [EventRow.build(*values) for values in qs.values_list(*_COLUMNS)]


def fetch_new(after: int, gaps: list[int], limit: int = BATCH) -> list[EventRow]:
    """The live poll: rows above ``after`` plus the awaited ``gaps``, in id order — one query."""
    condition = Q(id__gt=after)
    if gaps:
        condition |= Q(id__in=gaps)
    return _rows(Event.objects.filter(condition).order_by("id")[:limit])


def fetch_range(tenant_id: int | None, after: int, upto: int, limit: int = BATCH) -> list[EventRow]:
    """A replay batch: rows with ``after < id <= upto`` (of one tenant, or all), in id order."""
    qs = Event.objects.filter(id__gt=after, id__lte=upto)
    if tenant_id is not None:
        qs = qs.filter(tenant_id=tenant_id)
    return _rows(qs.order_by("id")[:limit])


def fetch_start(lookback: int = STARTUP_LOOKBACK) -> tuple[int, list[int]]:
    """Where a starting hub stands: the highest id, and the missing ids among the newest ``lookback``."""
    top = Event.objects.aggregate(top=Max("id"))["top"] or 0
    floor = max(0, top - lookback)
    present = set(Event.objects.filter(id__gt=floor).values_list("id", flat=True))
    return top, [i for i in range(floor + 1, top) if i not in present]


# -- the watermark -----------------------------------------------------------------------------------------


class Watermark:
    """Which ids have been seen, which are awaited (gaps) and up to where nothing can be missing."""

    def __init__(self, top: int, *, gaps: Iterable[int] = (), gap_seconds: float = GAP_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.top = top
        self.gap_seconds = gap_seconds
        self.clock = clock
        now = clock()
        #: missing id → when it was first missed
        self.gaps: dict[int, float] = {i: now for i in gaps if i < top}
        self.given_up = 0

    @property
    def low(self) -> int:
        return min(self.gaps) - 1 if self.gaps else self.top

    def wanted(self) -> tuple[int, list[int]]:
        """What the next poll asks for: ids above ``top``, and the (newest ``MAX_GAP_IDS``) gaps."""
        return self.top, sorted(self.gaps)[-MAX_GAP_IDS:]

    def accept(self, row_id: int) -> bool:
        """Record that ``row_id`` was read; True if it is new (to be delivered), False if already seen."""
        if row_id > self.top:
            missing_from = max(self.top + 1, row_id - MAX_GAP_SPAN)
            if missing_from > self.top + 1:
                logger.warning("event ids jumped from %d to %d; not waiting for the %d oldest missing ids",
                               self.top, row_id, missing_from - self.top - 1)
                self.given_up += missing_from - self.top - 1
            now = self.clock()
            for missing in range(missing_from, row_id):
                self.gaps[missing] = now
            self.top = row_id
            return True
        return self.gaps.pop(row_id, None) is not None

    def expire(self) -> list[int]:
        """Give up the gaps awaited longer than ``gap_seconds`` (rolled back, or committed far too late)."""
        deadline = self.clock() - self.gap_seconds
        expired = [i for i, since in self.gaps.items() if since <= deadline]
        for i in expired:
            del self.gaps[i]
        self.given_up += len(expired)
        return expired


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
        self.limit = limit or QUEUE_LIMIT
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

    def __init__(self, tenant_id: int | None = None, *, keep: int = 20) -> None:
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
    """Polls the outbox while it has subscribers and fans rows out to them (one per event loop)."""

    def __init__(self, *, poll_seconds: float = POLL_SECONDS, gap_seconds: float = GAP_SECONDS,
                 batch: int = BATCH) -> None:
        self.poll_seconds = poll_seconds
        self.gap_seconds = gap_seconds
        self.batch = batch
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
                    top, gaps = await database_sync_to_async(fetch_start)()
                    self.mark = Watermark(top, gaps=gaps, gap_seconds=self.gap_seconds)
                    self._task = asyncio.get_running_loop().create_task(self._run(), name="eventhub")
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


# -- one API client's feed ---------------------------------------------------------------------------------


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
                 batch: int = BATCH) -> None:
        self.hub = hub
        self.tenant_id = tenant_id
        self.batch = batch
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
