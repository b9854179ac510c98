"""5. fairness: a quiet tenant behind a noisy one's backlog, and weighted shares under contention.

* Quiet alone: an idle engine; the quiet tenant submits its tasks at 50/s; its queue waits.
* Quiet behind noisy: the noisy tenant has its backlog queued before the workers start; once
  the drain is under way the quiet tenant submits the same tasks at the same rate.
* Weights 1 and 3: two tenants each with a backlog; over the window in which both still had
  work, each one's started tasks divided by its weight, and Jain's index of those figures
  (1.0 is a perfectly weighted share; 0.5 is one tenant taking everything).
* Time-fair shares (1 s vs 10 ms tasks) and a quiet tenant behind long tasks, with and without
  a cap: ``timefair.py``.
"""

import time
from collections.abc import Callable
from typing import Any

from ..runtime import Bench, BenchError, latency_summary, running
from ..systems import (
    drain_engine,
    engine_done_counter,
    enqueue_engine,
    start_engine,
)
from ..trickle import paced_enqueue, queue_waits_ms
from . import timefair


def jain(values: list[float]) -> float | None:
    """Jain's fairness index: (Σx)² / (n·Σx²)."""
    if not values or not any(values):
        return None
    return sum(values) ** 2 / (len(values) * sum(v * v for v in values))


def _wait_done(done: Callable[[], int], total: int, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while done() < total:
        if time.monotonic() > deadline:
            raise BenchError(f"fairness: {what}: {done()}/{total} done after {timeout:.0f}s")
        time.sleep(0.1)


def _quiet_phase(bench: Bench, quiet: Any, noisy: Any | None) -> dict[str, Any]:
    from jobs.lifecycle import Status
    from jobs.models import Task

    o = bench.options
    backlog = o.noisy if noisy is not None else 0
    if noisy is not None:
        enqueue_engine(bench, noisy, backlog, label="enqueue noisy backlog")
    done = engine_done_counter()
    proc = start_engine(bench, processes=o.processes, threads=o.threads,
                        label="behind-noisy" if noisy else "quiet-alone")
    with running(bench, proc):
        if noisy is not None:
            deadline = time.monotonic() + 60
            while done() == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
        noisy_left_at_start = Task.objects.filter(tenant=noisy, status=Status.PENDING).count() if noisy else 0
        feed = paced_enqueue(bench, quiet, o.quiet, o.rate, label="quiet tenant" + (" behind noisy" if noisy else ""))
        noisy_left_at_end = Task.objects.filter(tenant=noisy, status=Status.PENDING).count() if noisy else 0
        _wait_done(done, backlog + o.quiet, "quiet tasks")
    waits = queue_waits_ms(quiet)
    if len(waits) != o.quiet:
        raise BenchError(f"fairness: {len(waits)} quiet tasks started, expected {o.quiet}")
    return {"quiet_wait": latency_summary(waits), "feed": feed, "noisy_backlog": backlog,
            "noisy_pending_when_quiet_began": noisy_left_at_start,
            "noisy_pending_when_quiet_ended": noisy_left_at_end}


def _weighted(bench: Bench) -> dict[str, Any]:
    from django.db.models import Max, Min

    from jobs.models import Task

    o = bench.options
    each = max(1, o.noisy // 2)
    light, heavy = bench.tenant("weight-1", weight=1), bench.tenant("weight-3", weight=3)
    enqueue_engine(bench, light, each, label="enqueue weight-1 backlog")
    enqueue_engine(bench, heavy, each, label="enqueue weight-3 backlog")
    drain = drain_engine(bench, 2 * each, processes=o.processes, threads=o.threads, enqueue=False,
                         label="weighted")
    spans = {row["tenant"]: row for row in Task.objects.values("tenant").annotate(
        first=Min("started_at"), last=Max("started_at")).order_by()}
    window_end = min(row["last"] for row in spans.values())
    window_start = min(row["first"] for row in spans.values())
    weights = {light.pk: 1, heavy.pk: 3}
    started = {t: Task.objects.filter(tenant_id=t, started_at__lte=window_end).count() for t in weights}
    per_weight = {t: started[t] / w for t, w in weights.items()}
    total = sum(started.values())
    return {
        "tasks_per_tenant": each,
        "window_s": round((window_end - window_start).total_seconds(), 3),
        "started_in_window": {"weight-1": started[light.pk], "weight-3": started[heavy.pk]},
        "weight_3_share": round(started[heavy.pk] / total, 3) if total else None,
        "ideal_weight_3_share": 0.75,
        "jain_index": round(j, 4) if (j := jain(list(per_weight.values()))) is not None else None,
        "drain_tasks_per_s": drain["tasks_per_s"],
    }


def run(bench: Bench) -> dict[str, Any]:
    quiet = bench.tenant("quiet", weight=1)
    alone = _quiet_phase(bench, quiet, None)
    bench.reset()
    quiet = bench.tenant("quiet", weight=1)
    noisy = bench.tenant("noisy", weight=1)
    behind = _quiet_phase(bench, quiet, noisy)
    bench.reset()
    weighted = _weighted(bench)
    bench.reset()
    by_time = timefair.run(bench)
    idle_p95, busy_p95 = alone["quiet_wait"]["p95_ms"], behind["quiet_wait"]["p95_ms"]
    return {
        "quiet_alone": alone,
        "quiet_behind_noisy": behind,
        "p95_ratio": round(busy_p95 / idle_p95, 2) if idle_p95 and busy_p95 is not None else None,
        "weighted": weighted,
        **by_time,
    }
