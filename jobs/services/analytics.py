"""Analytics that stay fast at millions of rows.

Finished work comes from the rollups (``TaskStat``, ``AttemptStat``, ``ThroughputBucket``),
written as tasks finish; live work (pending/scheduled/running) is counted on the claim index,
whose range holds only unfinished rows. Percentiles come from at most ``P95_SAMPLE`` of the
latest finished tasks of the same window, read backwards along an index on ``finished_at``.

One meaning each: a *failed* task is one in the dead letter now (a requeue takes it back out
of every rollup); a *failed attempt* is any run that ended in an error, retried or not (never
taken back). The dead-letter rate is failed tasks / finished tasks, the attempt failure rate
failed attempts / attempts. A task's queue wait runs from when its last attempt became due
(``max(created_at, run_at)``), so neither a requested delay nor a retry's back-off counts.
"""

import math
from collections import defaultdict
from datetime import datetime
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum

from tenants.models import Tenant

from .. import clock
from ..lifecycle import FINISHED, LIVE, Status
from ..models import Task, TaskStat, ThroughputBucket
from ..models.stats import AttemptStat, queue_wait

#: Percentiles are computed over at most this many of the latest finished tasks (of the window).
P95_SAMPLE = 1000
#: The rolling window of ``overview``'s ``window`` figures by default (seconds).
WINDOW = 3600
#: The throughput buckets are kept this long: the longest rolling window.
MAX_WINDOW = 86400


def _scoped(qs: QuerySet[Any], tenant_ids: list[int] | None) -> QuerySet[Any]:
    return qs if tenant_ids is None else qs.filter(tenant_id__in=tenant_ids)


def _rate(numerator: int, denominator: int) -> float:
    return round(numerator / denominator, 4) if denominator else 0.0


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0…1) of ``values``; the benchmark's figures use it too."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def recent_durations(
    tenant_ids: list[int] | None, *, task_type: str | None = None, since: datetime | None = None
) -> tuple[list[float], list[float]]:
    """Execution and queue-wait times (ms) of the latest finished tasks that ran (finished since ``since``)."""
    qs = _scoped(Task.objects.filter(finished_at__isnull=False), tenant_ids)
    if task_type:
        qs = qs.filter(type=task_type)
    if since is not None:
        qs = qs.filter(finished_at__gte=since)
    rows = qs.order_by("-finished_at").values_list("created_at", "run_at", "started_at", "finished_at")[:P95_SAMPLE]
    execution, wait = [], []
    for created, run_at, started, finished in rows:
        waited = queue_wait(created, run_at, started)
        if started is None or waited is None:
            continue
        execution.append((finished - started).total_seconds() * 1000)
        wait.append(waited.total_seconds() * 1000)
    return execution, wait


def window_start(seconds: int, now: datetime | None = None) -> datetime:
    """The first throughput bucket of the rolling window of ``seconds`` that ends with the current bucket."""
    now = now or clock.now()
    end = now.timestamp() - now.timestamp() % ThroughputBucket.SECONDS + ThroughputBucket.SECONDS
    return datetime.fromtimestamp(end - seconds, tz=now.tzinfo)


def window(tenant_ids: list[int] | None, seconds: int = WINDOW, now: datetime | None = None) -> dict[str, Any]:
    """Finished tasks, attempts, rates, averages and p95s over one rolling window (the throughput buckets,
    and for the p95s the latest finished tasks of the same window)."""
    since = window_start(seconds, now)
    columns = ["completed", "failed", "cancelled", "timed", "exec_ms_sum", "wait_ms_sum", "attempts",
               "failed_attempts"]
    sums = _scoped(ThroughputBucket.objects.filter(bucket__gte=since), tenant_ids).aggregate(
        **{c: Sum(c) for c in columns})
    n = {c: sums[c] or 0 for c in columns}
    finished = n["completed"] + n["failed"] + n["cancelled"]
    execution, wait = recent_durations(tenant_ids, since=since)
    return {
        "seconds": seconds, "since": clock.iso(since),
        "completed": n["completed"], "failed": n["failed"], "cancelled": n["cancelled"], "finished": finished,
        "attempts": n["attempts"], "failed_attempts": n["failed_attempts"],
        "attempt_failure_rate": _rate(n["failed_attempts"], n["attempts"]),
        "dead_letter_rate": _rate(n["failed"], finished),
        "avg_execution_ms": _ms(n["exec_ms_sum"] / n["timed"]) if n["timed"] else None,
        "p95_execution_ms": _ms(percentile(execution, 0.95)),
        "avg_queue_wait_ms": _ms(n["wait_ms_sum"] / n["timed"]) if n["timed"] else None,
        "p95_queue_wait_ms": _ms(percentile(wait, 0.95)),
        "percentile_sample": len(execution),
    }


def _attempts(tenant_ids: list[int] | None) -> dict[str, tuple[int, int]]:
    """All-time (attempts, failed attempts) per type."""
    rows = _scoped(AttemptStat.objects.all(), tenant_ids).values_list("type").annotate(
        a=Sum("attempts"), f=Sum("failed_attempts")).order_by()
    return {ty: (a or 0, f or 0) for ty, a, f in rows}


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def overview(tenant_ids: list[int] | None, *, seconds: int = WINDOW) -> dict[str, Any]:
    """Unfinished tasks now, finished tasks and attempts of all time, and ``window``: the same over the
    last ``seconds``. The top-level p95s are of the latest finished tasks, whenever they finished."""
    by_status = dict.fromkeys(Status.values, 0)
    by_priority = {str(p): 0 for p in range(1, 6)}
    live = _scoped(Task.objects.filter(status__in=LIVE), tenant_ids)
    for status, priority, n in live.values_list("status", "priority").annotate(n=Count("id")).order_by():
        by_status[status] += n
        by_priority[str(priority)] += n
    totals = {"timed": 0, "exec": 0, "wait": 0}
    finished = _scoped(TaskStat.objects.all(), tenant_ids).values_list("status", "priority").annotate(
        n=Sum("count"), timed=Sum("timed"), exec_ms=Sum("exec_ms_sum"), wait_ms=Sum("wait_ms_sum")
    ).order_by()
    for status, priority, n, timed, exec_ms, wait_ms in finished:
        if status in by_status:
            by_status[status] += n or 0
        by_priority[str(priority)] = by_priority.get(str(priority), 0) + (n or 0)
        totals["timed"] += timed or 0
        totals["exec"] += exec_ms or 0
        totals["wait"] += wait_ms or 0
    done = sum(by_status[s] for s in FINISHED)
    execution, wait = recent_durations(tenant_ids)
    last_hour = _scoped(ThroughputBucket.objects.filter(bucket__gte=window_start(3600)), tenant_ids).aggregate(
        n=Sum("completed")
    )["n"] or 0
    attempts = _attempts(tenant_ids).values()
    tries, failed_tries = sum(a for a, _ in attempts), sum(f for _, f in attempts)
    return {
        "total": sum(by_status.values()),
        "by_status": by_status,
        "by_priority": by_priority,
        "failure_rate": _rate(by_status[Status.FAILED], done),
        "dead_letter_rate": _rate(by_status[Status.FAILED], done),
        "attempts": tries,
        "failed_attempts": failed_tries,
        "attempt_failure_rate": _rate(failed_tries, tries),
        "avg_execution_ms": _ms(totals["exec"] / totals["timed"]) if totals["timed"] else None,
        "p95_execution_ms": _ms(percentile(execution, 0.95)),
        "avg_queue_wait_ms": _ms(totals["wait"] / totals["timed"]) if totals["timed"] else None,
        "p95_queue_wait_ms": _ms(percentile(wait, 0.95)),
        "completed_last_hour": last_hour,
        "percentile_sample": len(execution),
        "window": window(tenant_ids, seconds),
    }


def throughput(
    tenant_ids: list[int] | None, *, window: int, bucket: int, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Finished tasks per ``bucket`` seconds over the last ``window`` seconds, oldest first, zero-filled."""
    now = now or clock.now()
    points = max(1, window // bucket)
    start_at = window_start(points * bucket, now)
    start = start_at.timestamp()
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    rows = _scoped(ThroughputBucket.objects.filter(bucket__gte=start_at), tenant_ids).values_list(
        "bucket", "completed", "failed", "cancelled"
    )
    for at, completed, failed, cancelled in rows:
        index = int((at.timestamp() - start) // bucket)
        if 0 <= index < points:
            counts[index][0] += completed
            counts[index][1] += failed
            counts[index][2] += cancelled
    return [
        {
            "timestamp": datetime.fromtimestamp(start + i * bucket, tz=now.tzinfo).isoformat(),
            "completed": counts[i][0],
            "failed": counts[i][1],
            "cancelled": counts[i][2],
        }
        for i in range(points)
    ]


def by_type(tenant_ids: list[int] | None) -> list[dict[str, Any]]:
    types: dict[str, dict[str, Any]] = defaultdict(lambda: {
        "by_status": dict.fromkeys(Status.values, 0), "timed": 0, "exec": 0, "wait": 0,
    })
    live = _scoped(Task.objects.filter(status__in=LIVE), tenant_ids)
    for task_type, status, n in live.values_list("type", "status").annotate(n=Count("id")).order_by():
        types[task_type]["by_status"][status] += n
    finished = _scoped(TaskStat.objects.all(), tenant_ids).values_list("type", "status").annotate(
        n=Sum("count"), timed=Sum("timed"), exec_ms=Sum("exec_ms_sum"), wait_ms=Sum("wait_ms_sum")
    ).order_by()
    for task_type, status, n, timed, exec_ms, wait_ms in finished:
        entry = types[task_type]
        if status in entry["by_status"]:
            entry["by_status"][status] += n or 0
        entry["timed"] += timed or 0
        entry["exec"] += exec_ms or 0
        entry["wait"] += wait_ms or 0
    attempts = _attempts(tenant_ids)
    out = []
    for name in sorted(set(types) | set(attempts)):
        entry = types[name]
        counts = entry["by_status"]
        done = sum(counts[s] for s in FINISHED)
        timed = entry["timed"]
        tries, failed_tries = attempts.get(name, (0, 0))
        out.append({
            "type": name,
            "total": sum(counts.values()),
            "by_status": counts,
            "failure_rate": _rate(counts[Status.FAILED], done),
            "dead_letter_rate": _rate(counts[Status.FAILED], done),
            "attempts": tries,
            "failed_attempts": failed_tries,
            "attempt_failure_rate": _rate(failed_tries, tries),
            "avg_execution_ms": _ms(entry["exec"] / timed) if timed else None,
            "avg_queue_wait_ms": _ms(entry["wait"] / timed) if timed else None,
        })
    return out


def fairness(now: datetime | None = None, *, seconds: int = WINDOW) -> dict[str, Any]:
    """Per tenant: completed and failed over the rolling window of ``seconds`` (the same buckets as
    ``window``), pending/running now (claim index), weight and shares."""
    done: dict[int, tuple[int, int]] = {
        tid: (c or 0, f or 0) for tid, c, f in
        ThroughputBucket.objects.filter(bucket__gte=window_start(seconds, now)).values_list("tenant_id")
        .annotate(c=Sum("completed"), f=Sum("failed")).order_by()
    }
    waiting: dict[int, dict[str, int]] = defaultdict(dict)
    for tid, status, n in (Task.objects.filter(status__in=(Status.PENDING, Status.RUNNING))
                           .values_list("tenant_id", "status").annotate(n=Count("id")).order_by()):
        waiting[tid][status] = n
    involved = set(done) | set(waiting)
    tenants = list(Tenant.objects.filter(Q(active=True) | Q(pk__in=involved)).order_by("slug"))
    total_weight = sum(t.weight for t in tenants if t.pk in involved)
    total_done = sum(c for c, _ in done.values())
    rows: list[dict[str, Any]] = []
    for t in tenants:
        completed, failed = done.get(t.pk, (0, 0))
        active = t.pk in involved
        rows.append({
            "tenant": t, "weight": t.weight, "completed": completed, "failed": failed,
            "pending": waiting[t.pk].get(Status.PENDING, 0), "running": waiting[t.pk].get(Status.RUNNING, 0),
            "completed_share": completed / total_done if total_done else 0.0,
            "weight_share": t.weight / total_weight if active and total_weight else None,
            "contending": active,
        })
    rows.sort(key=lambda r: (-r["completed"], -r["pending"], r["tenant"].slug))
    return {"rows": rows, "total_completed": total_done, "total_weight": total_weight}
