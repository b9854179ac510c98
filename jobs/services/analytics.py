"""Analytics that stay fast at millions of rows.

Finished work comes from the rollups (``TaskStat``, ``ThroughputBucket``), written as
tasks finish; live work (pending/scheduled/running) is counted on the claim index,
whose range holds only unfinished rows. Percentiles come from the most recent
``P95_SAMPLE`` finished tasks, read backwards along an index on ``finished_at``.
"""

import math
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum

from tenants.models import Tenant

from .. import clock
from ..lifecycle import FINISHED, LIVE, Status
from ..models import Task, TaskStat, ThroughputBucket

#: Percentiles are computed over this many of the latest finished tasks.
P95_SAMPLE = 1000


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
    tenant_ids: list[int] | None, *, task_type: str | None = None
) -> tuple[list[float], list[float]]:
    """Execution and queue-wait times (ms) of the latest finished tasks that ran."""
    qs = _scoped(Task.objects.filter(finished_at__isnull=False), tenant_ids)
    if task_type:
        qs = qs.filter(type=task_type)
    rows = qs.order_by("-finished_at").values_list("created_at", "started_at", "finished_at")[:P95_SAMPLE]
    execution, wait = [], []
    for created, started, finished in rows:
        if started is None:
            continue
        execution.append((finished - started).total_seconds() * 1000)
        wait.append((started - created).total_seconds() * 1000)
    return execution, wait


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def overview(tenant_ids: list[int] | None) -> dict[str, Any]:
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
    hour_ago = clock.now() - timedelta(hours=1)
    last_hour = _scoped(ThroughputBucket.objects.filter(bucket__gte=hour_ago), tenant_ids).aggregate(
        n=Sum("completed")
    )["n"] or 0
    return {
        "total": sum(by_status.values()),
        "by_status": by_status,
        "by_priority": by_priority,
        "failure_rate": _rate(by_status[Status.FAILED], done),
        "avg_execution_ms": _ms(totals["exec"] / totals["timed"]) if totals["timed"] else None,
        "p95_execution_ms": _ms(percentile(execution, 0.95)),
        "avg_queue_wait_ms": _ms(totals["wait"] / totals["timed"]) if totals["timed"] else None,
        "p95_queue_wait_ms": _ms(percentile(wait, 0.95)),
        "completed_last_hour": last_hour,
        "percentile_sample": len(execution),
    }


def throughput(
    tenant_ids: list[int] | None, *, window: int, bucket: int, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Finished tasks per ``bucket`` seconds over the last ``window`` seconds, oldest first, zero-filled."""
    now = now or clock.now()
    points = max(1, window // bucket)
    end = now.timestamp() - now.timestamp() % ThroughputBucket.SECONDS + ThroughputBucket.SECONDS
    start = end - points * bucket
    start_at = datetime.fromtimestamp(start, tz=now.tzinfo)
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
    out = []
    for name in sorted(types):
        entry = types[name]
        counts = entry["by_status"]
        done = sum(counts[s] for s in FINISHED)
        timed = entry["timed"]
        out.append({
            "type": name,
            "total": sum(counts.values()),
            "by_status": counts,
            "failure_rate": _rate(counts[Status.FAILED], done),
            "avg_execution_ms": _ms(entry["exec"] / timed) if timed else None,
            "avg_queue_wait_ms": _ms(entry["wait"] / timed) if timed else None,
        })
    return out


def fairness(now: datetime | None = None) -> dict[str, Any]:
    """Per tenant: completed in the last hour (rollups), pending/running now (claim index), weight and shares."""
    now = now or clock.now()
    done: dict[int, tuple[int, int]] = {
        tid: (c or 0, f or 0) for tid, c, f in
        ThroughputBucket.objects.filter(bucket__gte=now - timedelta(hours=1)).values_list("tenant_id")
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
