"""Record finish events and ended attempts into the analytics rollups, in the caller's transaction.

One multi-row upsert per rollup table per batch, tables always in the same order and rows
in key order, so concurrent writers take row locks in the same order (no deadlocks between
completers).

A task counts once, under its final status, at the time it reached it: a requeue takes it
back out of ``TaskStat`` and the throughput buckets alike (a failed task is one in the dead
letter now). Attempts are counted apart and never taken back: a failed attempt happened.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from django.db import connection
from django.db.models import Model

from ..lifecycle import Event, Status
from ..models import Task, TaskStat, ThroughputBucket
from ..models.stats import AttemptStat, queue_wait


@dataclass(frozen=True, slots=True)
class Finished:
    """A task's end (or, taken back, its requeue). A run that started counts as an attempt, failed
    when the task was dead-lettered."""

    tenant_id: int
    type: str
    priority: int
    status: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime
    #: When the run's attempt became due: the task's ``run_at`` as claimed (None: ``created_at``).
    run_at: datetime | None = None


class RunEnd(Protocol):
    """What ``of_runs`` reads of a run's outcome (``finish.Outcome``)."""

    task_id: int
    status: str
    fields: dict[str, Any]
    task: Task | None
    event: Event | None


@dataclass(frozen=True, slots=True)
class Retried:
    """A run that failed without ending the task: a retry is scheduled, or its worker was lost."""

    tenant_id: int
    type: str
    at: datetime


_TICK_COLUMN: dict[str, int] = {Status.COMPLETED: 0, Status.FAILED: 1, Status.CANCELLED: 2}
_STAT_SUMS = ["count", "timed", "exec_ms_sum", "wait_ms_sum"]
_ATTEMPT_SUMS = ["attempts", "failed_attempts"]
_TICK_SUMS = ["completed", "failed", "cancelled", "timed", "exec_ms_sum", "wait_ms_sum", "attempts", "failed_attempts"]


def _ms(delta_seconds: float) -> int:
    return max(0, round(delta_seconds * 1000))


def floor_to(moment: datetime, seconds: int) -> datetime:
    epoch = moment.timestamp()
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=moment.tzinfo)


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def record(rows: Iterable[Finished], *, sign: int = 1, retried: Iterable[Retried] = ()) -> None:
    """Add (``sign=1``) or take back (``sign=-1``, a requeue) finish events; add ``retried`` attempts."""
    record_all(rows if sign > 0 else (), rows if sign < 0 else (), retried)


def record_all(finished: Iterable[Finished], unfinished: Iterable[Finished], retried: Iterable[Retried]) -> None:
    stats: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0] * len(_STAT_SUMS))
    tries: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0] * len(_ATTEMPT_SUMS))
    ticks: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0] * len(_TICK_SUMS))
    for sign, rows in ((1, finished), (-1, unfinished)):
        for row in rows:
            acc = stats[(row.tenant_id, _hour(row.finished_at), row.type, row.priority, row.status)]
            tick = ticks[(row.tenant_id, floor_to(row.finished_at, ThroughputBucket.SECONDS))]
            acc[0] += sign
            tick[_TICK_COLUMN[row.status]] += sign
            wait = queue_wait(row.created_at, row.run_at, row.started_at)
            if wait is None or row.started_at is None or (sign < 0 and _retried_since(row)):
                continue  # no run ended it: cancelled while waiting, its finish recorded no timing
            timing = [sign, sign * _ms((row.finished_at - row.started_at).total_seconds()),
                      sign * _ms(wait.total_seconds())]
            acc[1:4] = [a + b for a, b in zip(acc[1:4], timing, strict=True)]
            tick[3:6] = [a + b for a, b in zip(tick[3:6], timing, strict=True)]
            if sign > 0:  # the run that ended the task was an attempt; a requeue does not undo it
                _attempt(tries, ticks, row.tenant_id, row.type, row.finished_at, failed=row.status == Status.FAILED)
    for one in retried:
        _attempt(tries, ticks, one.tenant_id, one.type, one.at, failed=True)
    if stats:
        _upsert(TaskStat, ["tenant", "hour", "type", "priority", "status"], _STAT_SUMS, stats)
    if tries:
        _upsert(AttemptStat, ["tenant", "hour", "type"], _ATTEMPT_SUMS, tries)
    if ticks:
        _upsert(ThroughputBucket, ["tenant", "bucket"], _TICK_SUMS, ticks)


def of_runs(batch: Iterable[RunEnd], due: dict[int, datetime],
            now: datetime) -> tuple[list[Finished], list[Retried]]:
    """What a batch of written run ends adds: the tasks they finished, and the failed runs that did not
    finish theirs. ``due`` is each task's ``run_at`` as claimed (read under the run's row lock)."""
    finished, retried = [], []
    for o in batch:
        t = o.task
        if t is None:
            continue
        if o.status in _TICK_COLUMN:
            finished.append(Finished(t.tenant_id, t.type, t.priority, o.status, t.created_at, t.started_at,
                                     o.fields.get("finished_at", now), due.get(o.task_id)))
        elif t.started_at is not None and o.event is not Event.SNOOZED:
            # Back to waiting after it ran: a retry, or a run lost with its worker (a snooze gives it back).
            retried.append(Retried(t.tenant_id, t.type, now))
    return finished, retried


def _retried_since(row: Finished) -> bool:
    """A task cancelled while waiting for a retry: its ``run_at`` (the back-off) is past its last start."""
    return row.status == Status.CANCELLED and row.run_at is not None and row.started_at is not None \
        and row.run_at > row.started_at


def _attempt(tries: dict[tuple[Any, ...], list[int]], ticks: dict[tuple[Any, ...], list[int]], tenant_id: int,
             task_type: str, at: datetime, *, failed: bool) -> None:
    for acc, offset in ((tries[(tenant_id, _hour(at), task_type)], 0),
                        (ticks[(tenant_id, floor_to(at, ThroughputBucket.SECONDS))], 6)):
        acc[offset] += 1
        acc[offset + 1] += int(failed)


def _upsert(model: type[Model], keys: list[str], sums: list[str], by_key: dict[tuple[Any, ...], list[int]]) -> None:
    """INSERT the rows, adding their ``sums`` to any row that already has the same key."""
    rows: Sequence[tuple[Any, ...]] = [(*k, *v) for k, v in sorted(by_key.items(), key=lambda kv: kv[0])]
    qn = connection.ops.quote_name
    opts = model._meta
    key_cols = [str(opts.get_field(k).column) for k in keys]  # type: ignore[union-attr]
    cols = [*key_cols, *sums]
    one = "(" + ", ".join(["%s"] * len(cols)) + ")"
    params: list[Any] = []
    for row in rows:
        params.extend(connection.ops.adapt_datetimefield_value(v) if isinstance(v, datetime) else v for v in row)
    table = qn(opts.db_table)
    # Identifiers come from model metadata and every value is a parameter.
    head = f"INSERT INTO {table} ({', '.join(qn(c) for c in cols)}) VALUES {', '.join([one] * len(rows))}"  # noqa: S608
    if connection.vendor == "mysql":
        tail = "ON DUPLICATE KEY UPDATE " + ", ".join(f"{qn(c)} = {qn(c)} + VALUES({qn(c)})" for c in sums)
    else:
        tail = (f"ON CONFLICT ({', '.join(qn(c) for c in key_cols)}) DO UPDATE SET "
                + ", ".join(f"{qn(c)} = {table}.{qn(c)} + excluded.{qn(c)}" for c in sums))
    with connection.cursor() as cursor:
        # Identifiers come from model metadata and every value is a parameter.
        cursor.execute(f"{head} {tail}", params)
