"""Record finish events into the analytics rollups, in the caller's transaction.

One multi-row upsert per rollup table per batch, rows in key order so concurrent
writers take row locks in the same order (no deadlocks between completers).
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Model

from ..lifecycle import Status
from ..models import TaskStat, ThroughputBucket


@dataclass(frozen=True, slots=True)
class Finished:
    tenant_id: int
    type: str
    priority: int
    status: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime


_TICK_COLUMN: dict[str, int] = {Status.COMPLETED: 0, Status.FAILED: 1, Status.CANCELLED: 2}


def _ms(delta_seconds: float) -> int:
    return max(0, round(delta_seconds * 1000))


def floor_to(moment: datetime, seconds: int) -> datetime:
    epoch = moment.timestamp()
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=moment.tzinfo)


def record(rows: Iterable[Finished], *, sign: int = 1) -> None:
    """Add (``sign=1``) or take back (``sign=-1``, a requeue) finish events."""
    stats: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    ticks: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in rows:
        hour = row.finished_at.replace(minute=0, second=0, microsecond=0)
        acc = stats[(row.tenant_id, hour, row.type, row.priority, row.status)]
        acc[0] += sign
        if row.started_at is not None:
            acc[1] += sign
            acc[2] += sign * _ms((row.finished_at - row.started_at).total_seconds())
            acc[3] += sign * _ms((row.started_at - row.created_at).total_seconds())
        if sign > 0:
            # Throughput counts events as they happen; a requeue does not un-happen one.
            tick = ticks[(row.tenant_id, floor_to(row.finished_at, ThroughputBucket.SECONDS))]
            tick[_TICK_COLUMN[row.status]] += 1
    if stats:
        _upsert(TaskStat, ["tenant", "hour", "type", "priority", "status"],
                ["count", "timed", "exec_ms_sum", "wait_ms_sum"],
                [(*k, *v) for k, v in sorted(stats.items(), key=lambda kv: kv[0])])
    if ticks:
        _upsert(ThroughputBucket, ["tenant", "bucket"], ["completed", "failed", "cancelled"],
                [(*k, *v) for k, v in sorted(ticks.items(), key=lambda kv: kv[0])])


def _upsert(model: type[Model], keys: list[str], sums: list[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """INSERT the rows, adding their ``sums`` to any row that already has the same key."""
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
