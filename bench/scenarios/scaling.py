"""4. scaling: drain throughput with 1, 2 and 3 worker processes, and where the CPU went."""

from typing import Any

from ..runtime import Bench
from ..systems import drain_engine

PROCESS_COUNTS = (1, 2, 3)


def bound(run: dict[str, Any]) -> str:
    """Say what limited a drain, from the CPU each party used."""
    cpu = run["cpu"]
    busy, cores = cpu["busy_cores"] or 0, cpu["cores"]
    share = cpu["cpu_share"]
    parts = ", ".join(f"{k} {v:.0%}" for k, v in sorted(share.items(), key=lambda kv: -kv[1]) if v >= 0.01)
    others = cpu.get("other_processes_cores") or 0
    if busy + others >= 0.9 * cores:
        return (f"CPU-bound: {busy:.2f} of {cores} cores busy ({parts})"
                + (f", other processes on the machine {others:.2f}" if others >= 0.05 else ""))
    if busy + others >= 0.7 * cores:
        return (f"mostly CPU-bound: {busy:.2f} of {cores} cores busy ({parts}), other processes {others:.2f}; "
                "the rest is waiting on round-trips")
    return (f"not CPU-bound: {busy:.2f} of {cores} cores busy ({parts}), other processes {others:.2f}: "
            "waits (locks, round-trips, sleeps)")


def run(bench: Bench) -> dict[str, Any]:
    o = bench.options
    runs = []
    for i, processes in enumerate(PROCESS_COUNTS):
        if i:
            bench.reset()
        result = drain_engine(bench, o.tasks, processes=processes, threads=o.threads, label=f"engine-p{processes}")
        result["bound"] = bound(result)
        runs.append(result)
    return {"tasks": o.tasks, "threads": o.threads, "runs": runs}
