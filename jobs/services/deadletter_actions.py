"""The dead letter's bulk actions, each bounded by the cut-off its confirmation counted
(``deadletter.Cutoff``) and told back as what it acted on and what it skipped, and why:

* requeue — in the background, as every bulk action (``jobs.services.bulk``);
* discard — delete at once, with its audit entry in the same transaction.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction

from ..models import BulkAction
from ..store.discard import discard_failed
from . import audit, bulk
from .deadletter import Cutoff, Selection, rows, size


@dataclass(frozen=True, slots=True)
class Skipped:
    """What the action leaves alone: ``arrived`` failed after the confirmation (outside its cut-off);
    ``gone`` were counted but are no longer failed (requeued or discarded since)."""

    arrived: int
    gone: int

    @property
    def total(self) -> int:
        return self.arrived + self.gone


def skipped(selection: Selection, cutoff: Cutoff, counted: int) -> tuple[int, Skipped]:
    """How many of the selection are inside ``cutoff`` now, and what the action will skip."""
    inside = size(selection, cutoff)
    return inside, Skipped(arrived=size(selection) - inside, gone=max(0, counted - inside))


def _filter(selection: Selection) -> dict[str, Any]:
    return {**dict(zip(bulk.GROUP_FIELDS, selection.group or (), strict=False)),
            **({"tenant": selection.tenant.slug} if selection.tenant else {})}


@dataclass(frozen=True, slots=True)
class Requeue:
    started: bulk.Started
    #: How many it will requeue (inside the cut-off now), and what it skips.
    inside: int
    skipped: Skipped


def requeue(selection: Selection, cutoff: Cutoff, counted: int) -> Requeue:
    """Start the background requeue of what the confirmation counted (``counted`` tasks up to ``cutoff``)."""
    if selection.group is None:
        # Every failed task is the task list's retry of status=failed, its finish bound a filter
        # (``finished_before`` excludes: one microsecond past the latest finish counted).
        kind, spec = BulkAction.Kind.RETRY, {"status": "failed"}
        if cutoff.finished is not None:
            spec["finished_before"] = (cutoff.finished + timedelta(microseconds=1)).isoformat()
    else:
        kind, spec = BulkAction.Kind.REQUEUE_DEAD, dict(zip(bulk.GROUP_FIELDS, selection.group, strict=True))
        if cutoff.finished is not None:
            spec[bulk.GROUP_FINISHED] = cutoff.finished.isoformat()
    inside, skip = skipped(selection, cutoff, counted)
    started = bulk.start(kind, filter=spec, tenant=selection.tenant, cutoff_id=cutoff.upto, expected=inside)
    return Requeue(started, inside, skip)


@dataclass(frozen=True, slots=True)
class Discarded:
    deleted: int
    skipped: Skipped


def discard(selection: Selection, cutoff: Cutoff, counted: int) -> Discarded:
    """Delete the failed tasks the confirmation counted (still failed, inside ``cutoff``), batch by
    batch, and record one ``deadletter.discard`` audit entry, all in one transaction."""
    deleted: list[int] = []
    with transaction.atomic():
        for batch in rows(selection, cutoff):
            deleted += discard_failed([pk for pk, _ in batch], cutoff.fence())
        # What is left of the selection failed after the confirmation (or is being changed right now).
        skip = Skipped(arrived=size(selection), gone=max(0, counted - len(deleted)))
        group = f"group {selection.group[0]} {selection.error}" if selection.group else "every failed task"
        audit.record(
            "deadletter.discard", target=f"dead letter: {group}", tenant=selection.tenant, ids=deleted,
            filter=_filter(selection),
            counts={"expected": counted, "deleted": len(deleted), "arrived_after": skip.arrived,
                    "no_longer_failed": skip.gone},
            detail={"cutoff_id": cutoff.upto,
                    "cutoff_finished": cutoff.finished.isoformat() if cutoff.finished else None},
        )
    return Discarded(len(deleted), skip)
