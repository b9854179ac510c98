"""The streams' reads of the outbox (``jobs_event``): synchronous, called through ``database_sync_to_async``.

Every query is served by the primary key (id ranges), except the start-up's one seek on
``event_created_idx`` for the newest row older than the gap maximum.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import Max, Min, Q
from django.utils import timezone

from ..lifecycle import Event as EventName
from ..models import Event, Task
from .reset import Reason


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


@dataclass(frozen=True, slots=True)
class Start:
    """Where a starting hub stands: see ``fetch_start``."""

    top: int
    #: missing id → seconds it has been missing at least (the age of the nearest row above it)
    gaps: dict[int, float]
    #: ids at or below it are not awaited: older than the gap maximum, or beyond the span
    floor: int


_COLUMNS = ("id", "tenant_id", "tenant__slug", "changes")


#: The change that carries the task's ``result`` (read once per batch of rows, for every client).
COMPLETED = EventName.COMPLETED.value


def _rows(qs: Any) -> list[EventRow]:
    values = list(qs.values_list(*_COLUMNS))
    results = _results({c.get("task") for *_, changes in values if isinstance(changes, list) for c in changes
                        if isinstance(c, dict) and c.get("event") == COMPLETED})
    if results:
        values = [(*head, [_with_result(c, results) for c in changes] if isinstance(changes, list) else changes)
                  for *head, changes in values]
    return [EventRow.build(*v) for v in values]


def _results(ids: set[Any]) -> dict[int, Any]:
    """The results of the tasks completed in a batch of rows: one primary-key query (none without any)."""
    wanted = [i for i in ids if isinstance(i, int)]
    return dict(Task.objects.filter(pk__in=wanted).values_list("pk", "result")) if wanted else {}


def _with_result(change: Any, results: dict[int, Any]) -> Any:
    if not isinstance(change, dict) or change.get("event") != COMPLETED:
        return change
    # A task pruned since (retention) has none to give: null, as for a handler that returned nothing.
    task = change.get("task")
    return {**change, "result": results.get(task) if isinstance(task, int) else None}


def gap_condition(top: int, ranges: list[tuple[int, int]]) -> Q:
    """Ids above ``top``, or inside one of the closed ``ranges``: one OR of primary-key ranges."""
    terms = [Q(id__gt=top)]
    singles = [a for a, b in ranges if a == b]
    if singles:
        terms.append(Q(id__in=singles))
    terms += [Q(id__range=(a, b)) for a, b in ranges if a != b]
    return Q(*terms, _connector=Q.OR)


def fetch_new(top: int, ranges: list[tuple[int, int]], limit: int, start: int = 0) -> list[EventRow]:
    """The live poll: rows above ``top`` or in the gap ``ranges`` (and above ``start``), in id order — one query."""
    qs = Event.objects.filter(gap_condition(top, ranges))
    if start:
        qs = qs.filter(id__gt=start)
    return _rows(qs.order_by("id")[:limit])


def fetch_range(tenant_id: int | None, after: int, upto: int, limit: int) -> list[EventRow]:
    """A replay batch: rows with ``after < id <= upto`` (of one tenant, or all), in id order."""
    qs = Event.objects.filter(id__gt=after, id__lte=upto)
    if tenant_id is not None:
        qs = qs.filter(tenant_id=tenant_id)
    return _rows(qs.order_by("id")[:limit])


def fetch_start(gap_seconds: float, span: int) -> Start:
    """The highest id, and the ids missing below it that may belong to transactions still open.

    An id is allocated before every higher id, so it has been missing at least as long as
    the nearest row above it exists: ids below a row older than ``gap_seconds`` (or more
    than ``span`` below the top) are past waiting for and make the floor.
    """
    top = Event.objects.aggregate(top=Max("id"))["top"] or 0
    now = timezone.now()
    old = (Event.objects.filter(created_at__lt=now - timedelta(seconds=gap_seconds))
           .order_by("-created_at").values_list("id", flat=True).first())
    floor = max(0, top - span, old or 0)
    present = dict(Event.objects.filter(id__gt=floor).values_list("id", "created_at"))
    gaps: dict[int, float] = {}
    age = 0.0
    for i in range(top - 1, floor, -1):  # downwards: each id takes the age of the nearest row above
        if i + 1 in present:
            age = max(age, (now - present[i + 1]).total_seconds())
        if i not in present:
            gaps[i] = age
    return Start(top=top, gaps=gaps, floor=floor)


def resume_problem(last_event_id: int, horizon: int) -> Reason | None:
    """Why a reconnect from ``last_event_id`` cannot be replayed without a hole, or None if it can.

    An id beyond the newest row is not one a stream of this outbox sent (a restored or replaced
    database). A missing id between the client's and the oldest row kept may have been pruned. ``horizon``
    is the hub's: the highest id it gave up or never tracked; a missing id between the client's
    and it may have been skipped. If none is missing, nothing was.
    """
    bounds = Event.objects.aggregate(oldest=Min("id"), newest=Max("id"))
    oldest, newest = bounds["oldest"], bounds["newest"]
    # Every id a stream sends is one of a row it read (or below): beyond the newest row, it is not ours.
    if last_event_id > (newest or 0):
        return Reason.AHEAD
    if oldest is not None and last_event_id < oldest - 1:
        return Reason.RETENTION
    if last_event_id < horizon:
        present = Event.objects.filter(id__gt=last_event_id, id__lte=horizon).count()
        if present < horizon - last_event_id:
            return Reason.UNVERIFIED
    return None
