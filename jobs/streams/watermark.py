"""Reading the outbox in id order although ids do not become visible in order.

Auto-increment ids do not become visible in order: id 11 may commit before id 10, and 10
may never commit (its transaction rolled back). ``Watermark`` therefore tracks

* ``top``: the highest id seen;
* ``gaps``: ids below ``top`` not seen yet; they are asked for again with every poll for up
  to ``SSE_GAP_SECONDS``, then given up;
* ``low``: the highest id W such that every id ≤ W has been seen or given up.

``low`` is what the streams send as the SSE ``id:``: a client that reconnects with
``Last-Event-ID: W`` is replayed every row with an id above W (a row may arrive twice —
clients dedupe by ``seq``, the row id — but none is skipped). See ``feed.Feed`` for how a
reconnect's replay from the database joins the live feed without a hole between them.

The ``fetch_*`` functions are the database side: synchronous, called through
``database_sync_to_async``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Max, Q

from ..models import Event
from .conf import streams_conf

logger = logging.getLogger(__name__)


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


# -- the database side -------------------------------------------------------------------------------------

_COLUMNS = ("id", "tenant_id", "tenant__slug", "changes")


def _rows(qs: Any) -> list[EventRow]:
    return [EventRow.build(*values) for values in qs.values_list(*_COLUMNS)]


def fetch_new(after: int, gaps: list[int], limit: int) -> list[EventRow]:
    """The live poll: rows above ``after`` plus the awaited ``gaps``, in id order — one query."""
    condition = Q(id__gt=after)
    if gaps:
        condition |= Q(id__in=gaps)
    return _rows(Event.objects.filter(condition).order_by("id")[:limit])


def fetch_range(tenant_id: int | None, after: int, upto: int, limit: int) -> list[EventRow]:
    """A replay batch: rows with ``after < id <= upto`` (of one tenant, or all), in id order."""
    qs = Event.objects.filter(id__gt=after, id__lte=upto)
    if tenant_id is not None:
        qs = qs.filter(tenant_id=tenant_id)
    return _rows(qs.order_by("id")[:limit])


def fetch_start(lookback: int) -> tuple[int, list[int]]:
    """Where a starting hub stands: the highest id, and the missing ids among the newest ``lookback``."""
    top = Event.objects.aggregate(top=Max("id"))["top"] or 0
    floor = max(0, top - lookback)
    present = set(Event.objects.filter(id__gt=floor).values_list("id", flat=True))
    return top, [i for i in range(floor + 1, top) if i not in present]


# -- the watermark -----------------------------------------------------------------------------------------


class Watermark:
    """Which ids have been seen, which are awaited (gaps) and up to where nothing can be missing."""

    def __init__(self, top: int, *, gaps: Iterable[int] = (), gap_seconds: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        conf = streams_conf()
        self.top = top
        self.gap_seconds = conf.SSE_GAP_SECONDS if gap_seconds is None else gap_seconds
        self.max_span = conf.SSE_MAX_GAP_SPAN
        self.max_ids = conf.SSE_MAX_GAP_IDS
        self.clock = clock
        now = clock()
        #: missing id → when it was first missed
        self.gaps: dict[int, float] = {i: now for i in gaps if i < top}
        self.given_up = 0

    @property
    def low(self) -> int:
        return min(self.gaps) - 1 if self.gaps else self.top

    def wanted(self) -> tuple[int, list[int]]:
        """What the next poll asks for: ids above ``top``, and the (newest ``max_ids``) gaps."""
        return self.top, sorted(self.gaps)[-self.max_ids:]

    def accept(self, row_id: int) -> bool:
        """Record that ``row_id`` was read; True if it is new (to be delivered), False if already seen."""
        if row_id > self.top:
            missing_from = max(self.top + 1, row_id - self.max_span)
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
