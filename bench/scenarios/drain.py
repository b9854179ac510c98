"""1. drain: N no-op tasks queued first, then drained by P processes × T threads; the same
workload with django-tasks-db's ``db_worker`` and with Celery (Redis broker), same servers,
same number of worker processes.

And the same drain with the claim's gates at work (``engine+gates``): every task names one of
``GATED_KEYS`` concurrency keys (limit ``GATED_LIMIT``, so keys rarely block: what is
measured is the gates' cost, their lock and count per claim) and a type of another queue
is paused (every claim checks the pause set).

And the drain's physical floor (``bench.claimfloor``): the same N rows claimed and completed in
raw SQL on the same server, as many claimers as the engine has executor threads, the engine's
claim size; the engine's share of it is the floor's seconds ÷ the engine's.
"""

from typing import Any

from ..claimfloor import claim_batch, raw_claim_complete
from ..runtime import Bench
from ..systems import drain_celery, drain_dtdb, drain_engine, enqueue_engine


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


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


def _floor(bench: Bench, engine: dict[str, Any]) -> dict[str, Any]:
    o = bench.options
    tenant = bench.tenant("bench")
    enqueue_engine(bench, tenant, o.tasks, label="enqueue (raw claim floor)")
    floor = raw_claim_complete(bench, tenant, o.tasks, claimers=o.processes * o.threads,
                               batch=claim_batch(o.threads))
    steady = o.tasks / engine["steady_tasks_per_s"] if engine["steady_tasks_per_s"] else None
    floor["engine_share"] = _ratio(floor["seconds"], engine["seconds"])
    floor["engine_share_steady"] = _ratio(floor["seconds"], steady)
    return floor


def run(bench: Bench) -> dict[str, Any]:
    o = bench.options
    systems = [drain_engine(bench, o.tasks, processes=o.processes, threads=o.threads)]
    bench.reset()
    with_gates = _drain_gated(bench)
    bench.reset()
    floor = _floor(bench, systems[0])
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
        "floor": floor,
        "engine_share_of_floor": floor["engine_share"],
        "first_start_s": ours["first_start_s"],
        "startup": ours.get("startup"),
        "gates_ratio": _ratio(with_gates["tasks_per_s"], ours["tasks_per_s"]),
        "ratios": ratios,
        "best_celery": best["system"] if best else None,
        "ratio_vs_dtdb": ratios.get("django-tasks-db", {}).get("wall"),
        "ratio_vs_celery": ratios[best["system"]]["wall"] if best else None,
    }
