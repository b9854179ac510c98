"""Depth and oldest waiting age per queue and per task type, with their pauses (the console's Queues page).

No index holds a task's queue or type, so an exact breakdown would read every waiting row.
Instead the totals per status are counted on ``task_due_idx`` (status, run_at: the index
alone), and the breakdown reads at most ``SAMPLE`` rows per waiting status along the same
index, oldest ``run_at`` first. So each status costs a bounded range whatever the backlog;
a breakdown is exact while its status has at most ``SAMPLE`` tasks and a lower bound past
that (``truncated`` says which), and a name's oldest waiting task is exact whenever the name
appears at all (the rows are read in ``run_at`` order).
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, QuerySet

from .. import clock
from ..conf import conf
from ..lifecycle import WAITING, Status
from ..models import Pause, Task
from ..registry import registry
from .pauses import PauseInfo, list_pauses

#: Rows read per waiting status for the breakdown.
SAMPLE = 5000


@dataclass(slots=True)
class Depth:
    """One queue's or one type's waiting tasks."""

    name: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(WAITING, 0))
    #: The earliest ``run_at`` of its due waiting tasks (pending, blocked, scheduled and due).
    oldest: datetime | None = None
    pause: PauseInfo | None = None

    @property
    def depth(self) -> int:
        return sum(self.counts.values())

    def age(self, now: datetime) -> timedelta | None:
        return now - self.oldest if self.oldest is not None else None


@dataclass(frozen=True, slots=True)
class Depths:
    queues: list[Depth]
    types: list[Depth]
    #: Exact waiting tasks per status (the whole index range, counted in the index).
    totals: dict[str, int]
    #: Statuses with more than ``SAMPLE`` tasks: their breakdown counts are lower bounds.
    truncated: frozenset[str]
    sample: int
    now: datetime

    @property
    def exact(self) -> bool:
        return not self.truncated


def _totals() -> dict[str, int]:
    totals: dict[str, int] = dict.fromkeys(WAITING, 0)
    rows = Task.objects.filter(status__in=WAITING).values_list("status").annotate(n=Count("id")).order_by()
    for status, n in rows:
        totals[status] = n
    return totals


def sample_rows(status: str, sample: int = SAMPLE) -> "QuerySet[Task, tuple[str, str, datetime]]":
    """The oldest ``sample`` tasks of ``status`` by ``run_at``: a range of task_due_idx, read in order."""
    return Task.objects.filter(status=status).order_by("run_at").values_list("queue", "type", "run_at")[:sample]


def depths(*, sample: int = SAMPLE) -> Depths:
    """Every queue and type that has waiting tasks, is paused, or is registered (then perhaps at 0)."""
    clock.refresh()  # run_at is on the database's clock
    now = clock.now()
    totals = _totals()
    queues: dict[str, Depth] = {}
    types: dict[str, Depth] = {}

    def entry(table: dict[str, Depth], name: str) -> Depth:
        if name not in table:
            table[name] = Depth(name)
        return table[name]

    truncated = set()
    for status in WAITING:
        if not totals[status]:
            continue
        rows = sample_rows(status, sample)
        seen = 0
        for queue, type_, run_at in rows:
            seen += 1
            for d in (entry(queues, queue), entry(types, type_)):
                d.counts[status] += 1
                due = status != Status.SCHEDULED or run_at <= now
                if due and (d.oldest is None or run_at < d.oldest):
                    d.oldest = run_at
        if seen < totals[status]:
            truncated.add(status)
    entry(queues, conf().DEFAULT_QUEUE)
    for name in registry.names():
        entry(types, name)
        if (q := registry.get(name).queue) is not None:
            entry(queues, q)
    for p in list_pauses():
        if p.kind == Pause.Kind.QUEUE:
            entry(queues, p.value).pause = p
        elif p.kind == Pause.Kind.TYPE:
            entry(types, p.value).pause = p
    return Depths(
        # By name, not depth: a live table whose rows swap places under the pointer misleads.
        queues=sorted(queues.values(), key=_order), types=sorted(types.values(), key=_order),
        totals=totals, truncated=frozenset(truncated), sample=sample, now=now,
    )


def _order(d: Depth) -> Any:
    return d.name
