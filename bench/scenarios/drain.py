"""1. drain: N no-op tasks queued first, then drained by P processes × T threads; the same
workload with django-tasks-db's ``db_worker`` and with Celery (Redis broker), same servers,
same number of worker processes."""

from typing import Any

from ..runtime import Bench
from ..systems import drain_celery, drain_dtdb, drain_engine


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def run(bench: Bench) -> dict[str, Any]:
    o = bench.options
    systems = [drain_engine(bench, o.tasks, processes=o.processes, threads=o.threads)]
    if o.peers:
        bench.reset()
        systems.append(drain_dtdb(bench, o.tasks, processes=o.processes))
        for pool in ("prefork", "threads"):
            bench.reset()
            systems.append(drain_celery(bench, o.tasks, processes=o.processes, threads=o.threads, pool=pool))
    ours = systems[0]
    ratios = {
        s["system"]: {"wall": _ratio(ours["tasks_per_s"], s["tasks_per_s"]),
                      "steady": _ratio(ours["steady_tasks_per_s"], s["steady_tasks_per_s"])}
        for s in systems[1:]
    }
    celery = [s for s in systems if s["system"].startswith("celery")]
    best = max(celery, key=lambda s: s["tasks_per_s"] or 0) if celery else None
    return {
        "tasks": o.tasks,
        "processes": o.processes,
        "threads": o.threads,
        "systems": systems,
        "ratios": ratios,
        "best_celery": best["system"] if best else None,
        "ratio_vs_dtdb": ratios.get("django-tasks-db", {}).get("wall"),
        "ratio_vs_celery": ratios[best["system"]]["wall"] if best else None,
    }
