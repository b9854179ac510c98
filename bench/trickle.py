"""A steady trickle of enqueues, and the queue waits it met (the latency and fairness scenarios)."""

import time
from typing import Any

from .progress import Progress
from .runtime import Bench


def paced_enqueue(bench: Bench, tenant: Any, n: int, rate: float, *, label: str) -> dict[str, Any]:
    """Enqueue ``n`` no-ops one at a time at ``rate`` per second (a steady trickle)."""
    from jobs.services.enqueue import enqueue

    from .runtime import latency_summary

    calls: list[float] = []
    start = time.monotonic()
    with Progress(label, n, stream=bench.stderr) as bar:
        for i in range(n):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            t0 = time.perf_counter()
            enqueue("noop", tenant=tenant)
            calls.append((time.perf_counter() - t0) * 1000)
            bar.update(i + 1)
    elapsed = time.monotonic() - start
    return {"tasks": n, "rate": rate, "achieved_rate": round(n / elapsed, 1) if elapsed else None,
            "enqueue_call": latency_summary(calls)}


def queue_waits_ms(tenant: Any = None) -> list[float]:
    """enqueue → start (``started_at − created_at``) of every started task, ms."""
    from jobs.models import Task

    qs = Task.objects.filter(started_at__isnull=False)
    if tenant is not None:
        qs = qs.filter(tenant=tenant)
    return [(s - c).total_seconds() * 1000 for c, s in qs.values_list("created_at", "started_at") if s is not None]
