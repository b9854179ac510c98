"""The console's health verdict: ``ok``, ``degraded`` or ``down``, each reason named with the tasks it is about.

Read from what the engine already keeps, each at a bounded cost: the worker registry (live
processes, their slots and heartbeats), ``jobs.services.queues`` (depth and oldest due
waiting task per queue, a bounded sample of ``task_due_idx``), the dead letter entered per
hour (a range of ``task_finished_idx``) and the tasks waiting for a retry (a bounded count
on ``task_due_idx``). ``down``: no live worker process. ``degraded``: any of the rest.

A reason carries the task-list filters that show its tasks (``filters``); the console turns
them into links. "Retrying" (``retrying()``) is a scheduled task waiting out its back-off
after a failed or lost run, apart from one submitted with a delay or ``run_at``.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import BooleanField, ExpressionWrapper

from .. import clock
from ..conf import conf
from ..lifecycle import Status
from ..models import Event, Task, TaskQuerySet, WorkerProcess
from ..shapes import slots as decode_slots
from . import listing, queues

#: A process is stale when its heartbeat is this many beats late: flagged before its lease lapses.
STALE_BEATS = 2
#: A queue whose oldest due task has waited longer than this degrades the verdict.
WAIT_DEGRADED_SECONDS = 60.0
#: Dead-lettered in the last hour: degraded when more than the hour before and at least this many.
DEAD_LETTER_GROWTH_MIN = 5
#: Retrying tasks, and dead-lettered ones per hour, counted exactly up to this many ("10,000+" past it).
RETRYING_CAP = 10_000

#: The one definition of "retrying", shared with the task filters (``listing.RETRYING``).
RETRYING = listing.RETRYING

OK, DEGRADED, DOWN = "ok", "degraded", "down"


def retry_flag() -> ExpressionWrapper:
    """``RETRYING`` as a column (annotate a list with it: no query per row)."""
    return ExpressionWrapper(RETRYING, output_field=BooleanField())


def retrying(qs: TaskQuerySet | None = None) -> TaskQuerySet:
    """The tasks of ``qs`` waiting for a retry."""
    return (Task.objects.all() if qs is None else qs).filter(RETRYING)


def delayed(qs: TaskQuerySet | None = None) -> TaskQuerySet:
    """The scheduled tasks of ``qs`` that are not retries (a delay, ``run_at``, a snooze, a resource's token)."""
    return (Task.objects.all() if qs is None else qs).filter(status=Status.SCHEDULED).exclude(RETRYING)


def is_retrying(task: Task) -> bool:
    return task.status == Status.SCHEDULED and task.attempts > 0 and not task.blocked_on


def stale_seconds() -> float:
    return conf().HEARTBEAT_SECONDS * STALE_BEATS


def is_stale(process: WorkerProcess, now: datetime) -> bool:
    """Alive (its lease has not lapsed) but ``STALE_BEATS`` heartbeats late: hung, stopped or starved."""
    return (now - process.last_heartbeat).total_seconds() > stale_seconds()


@dataclass(slots=True)
class Reason:
    code: str
    level: str
    message: str
    #: Task-list filters showing the tasks concerned (empty: none to show).
    filters: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class QueueHealth:
    name: str
    depth: int
    pending: int
    #: Seconds the oldest due task has waited (``None``: nothing due).
    oldest_wait: float | None
    served: bool
    lower_bound: bool


@dataclass(slots=True)
class Health:
    verdict: str
    reasons: list[Reason]
    processes: int
    stale: list[str]
    busy: int
    slots: int
    queues: list[QueueHealth]
    dead_letter_last_hour: int
    dead_letter_hour_before: int
    retrying: int
    retrying_more: bool
    next_retry: datetime | None
    now: datetime

    @property
    def saturation(self) -> float | None:
        return self.busy / self.slots if self.slots else None


def _serves(process_queues: list[set[str] | None], queue: str) -> bool:
    return any(q is None or queue in q for q in process_queues)


def _dead_lettered(start: datetime, end: datetime) -> int:
    """Tasks dead-lettered in [start, end) and still there, counted up to ``RETRYING_CAP`` (a LIMITed range)."""
    qs = Task.objects.filter(finished_at__gte=start, finished_at__lt=end, status=Status.FAILED)
    return listing.bounded_count(qs, RETRYING_CAP)[0]


def assess(now: datetime | None = None) -> Health:
    """The verdict and every reason for it, now (the database's clock)."""
    if now is None:
        clock.refresh()
        now = clock.now()
    c = conf()
    processes = list(WorkerProcess.objects.alive(now, c.LEASE_SECONDS).only(
        "id", "queues", "slots", "last_heartbeat"))
    stale = sorted(p.pk for p in processes if is_stale(p, now))
    slot_lists = [decode_slots(p.slots) for p in processes]
    busy = sum(1 for ss in slot_lists for s in ss if s["task_id"] is not None)
    total = sum(len(ss) for ss in slot_lists)
    served_by = [{q for q in p.queues.split(",") if q} or None for p in processes]
    depth = queues.depths()
    queue_rows = []
    for d in depth.queues:
        if not d.depth:
            continue
        age = d.age(now)
        queue_rows.append(QueueHealth(
            d.name, d.depth, d.counts[Status.PENDING], age.total_seconds() if age is not None else None,
            _serves(served_by, d.name), any(d.counts[s] and s in depth.truncated for s in d.counts)))
    hour = timedelta(hours=1)
    last_hour, hour_before = _dead_lettered(now - hour, now), _dead_lettered(now - 2 * hour, now - hour)
    waiting_retry = retrying()
    n_retrying, more = listing.bounded_count(waiting_retry, RETRYING_CAP)
    next_retry = waiting_retry.order_by("run_at").values_list("run_at", flat=True).first() if n_retrying else None

    reasons: list[Reason] = []
    if not processes:
        reasons.append(Reason("no_workers", DOWN, "No live worker process: nothing runs.",
                              {"status": Status.PENDING}))
    if stale:
        reasons.append(Reason("stale_heartbeat", DEGRADED,
                              f"{len(stale)} worker process(es) {STALE_BEATS}+ heartbeats late "
                              f"(over {stale_seconds():g} s): hung or starved; their leases lapse after "
                              f"{c.LEASE_SECONDS:g} s.", {"status": Status.RUNNING}))
    due_pending = sum(q.pending for q in queue_rows)
    if total and busy >= total and due_pending:
        reasons.append(Reason("saturated", DEGRADED, f"Every slot is busy ({busy} of {total}) with "
                              f"{due_pending} task(s) pending.", {"status": Status.PENDING}))
    for q in queue_rows:
        if processes and not q.served and q.pending:
            reasons.append(Reason("unserved_queue", DEGRADED, f"No live worker serves queue {q.name!r}.",
                                  {"status": Status.PENDING, "queue": q.name}))
        elif q.oldest_wait is not None and q.oldest_wait > WAIT_DEGRADED_SECONDS:
            reasons.append(Reason("queue_latency", DEGRADED,
                                  f"Queue {q.name!r}: its oldest due task has waited {q.oldest_wait:.0f} s "
                                  f"(over {WAIT_DEGRADED_SECONDS:g} s).", {"queue": q.name, "status": Status.PENDING}))
    if last_hour > hour_before and last_hour >= DEAD_LETTER_GROWTH_MIN:
        reasons.append(Reason("dead_letter_growth", DEGRADED,
                              f"{last_hour} task(s) dead-lettered in the last hour, {hour_before} the hour before.",
                              {"status": Status.FAILED, "finished_after": (now - hour).isoformat()}))
    levels = {r.level for r in reasons}
    verdict = DOWN if DOWN in levels else DEGRADED if levels else OK
    return Health(verdict, reasons, len(processes), stale, busy, total, queue_rows, last_hour, hour_before,
                  n_retrying, more, next_retry, now)


#: What ``jobs.store.rescue`` writes as a lost run's error: ``WorkerLost: worker <id> died`` (or
#: ``… stopped renewing its lease``); the outbox change of the rescue carries it.
_LOST = re.compile(r"WorkerLost: worker (\S+) (died|stopped renewing its lease)")
#: Outbox rows read for the lost workers (newest first): a bound, whatever the rate of rescues.
LOST_EVENTS_LIMIT = 500


@dataclass(slots=True)
class LostWorker:
    worker: str
    why: str
    last_at: datetime
    #: Tasks whose run was lost with it, rescued (re-queued) or, past their ``max_lost``, dead-lettered.
    rescued: list[int] = field(default_factory=list)
    dead_lettered: list[int] = field(default_factory=list)


def lost_workers(now: datetime, window: timedelta = timedelta(hours=1)) -> list[LostWorker]:
    """Worker processes lost within ``window`` and the runs rescued from them, latest loss first.

    Read from the outbox (kept ``EVENT_RETENTION_SECONDS``): the registry forgets a dead process,
    the rescue's events remain. Prefetched claims handed back unstarted record no error and are not listed.
    """
    found: dict[str, LostWorker] = {}
    rows = (Event.objects.filter(created_at__gte=now - window, changes__icontains="WorkerLost: worker")
            .order_by("-id").values_list("created_at", "changes")[:LOST_EVENTS_LIMIT])
    for at, changes in rows:
        for change in changes if isinstance(changes, list) else []:
            match = _LOST.search(str(change.get("error") or "")) if isinstance(change, dict) else None
            if match is None:
                continue
            lost = found.setdefault(match[1], LostWorker(match[1], match[2], at))
            lost.last_at = max(lost.last_at, at)
            target = lost.dead_lettered if change.get("status") == Status.FAILED else lost.rescued
            if change.get("task") not in target:
                target.append(change.get("task"))
    return sorted(found.values(), key=lambda w: w.last_at, reverse=True)
