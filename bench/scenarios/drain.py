"""1. drain: N no-op tasks queued first, then drained by P processes × T threads; the same
workload with django-tasks-db's ``db_worker`` and with Celery (Redis broker), same servers,
same number of worker processes.

And the same drain with the claim's gates at work (``engine+gates``): every task names one of
``GATED_KEYS`` concurrency keys (limit ``GATED_LIMIT``, so keys rarely block: what is
measured is the gates' cost, their lock and count per claim) and a type of another queue
is paused (every claim checks the pause set).
"""

from typing import Any

from ..runtime import Bench
from ..systems import drain_celery, drain_dtdb, drain_engine


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


GATED_KEYS = 500
GATED_LIMIT = 4


def gated(i: int) -> dict[str, Any]:
    return {"type": "noop", "concurrency_key": f"account-{i % GATED_KEYS}", "concurrency_limit": GATED_LIMIT}


def _drain_gated(bench: Bench) -> dict[str, Any]:
    from jobs.models import Pause

    o = bench.options
    Pause.objects.update_or_create(kind=Pause.Kind.TYPE, value="sleep", defaults={"reason": "bench: gates on"})
    try:
        return drain_engine(bench, o.tasks, processes=o.processes, threads=o.threads, label="engine+gates",
                            spec=gated)
    finally:
        Pause.objects.filter(kind=Pause.Kind.TYPE, value="sleep").delete()


def run(bench: Bench) -> dict[str, Any]:
    o = bench.options
    systems = [drain_engine(bench, o.tasks, processes=o.processes, threads=o.threads)]
    bench.reset()
    with_gates = _drain_gated(bench)
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
        "with_gates": with_gates,
        "gates_ratio": _ratio(with_gates["tasks_per_s"], ours["tasks_per_s"]),
        "ratios": ratios,
        "best_celery": best["system"] if best else None,
        "ratio_vs_dtdb": ratios.get("django-tasks-db", {}).get("wall"),
        "ratio_vs_celery": ratios[best["system"]]["wall"] if best else None,
    }
