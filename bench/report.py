"""The benchmark's output: the table on stdout, the targets and the JSON file (the charts: ``bench.charts``)."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .sections import cpu_ms_per_task, grid, section

__all__ = ["cpu_ms_per_task", "table", "targets", "write_json"]

# -- targets (the list) ------------------------------------------------------------------


def _get(results: dict[str, Any], *path: str) -> Any:
    node: Any = results.get("scenarios", {})
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _target(name: str, goal: str, value: float | None, ok: Callable[[float], bool], fmt: str,
            note: str = "") -> dict[str, Any]:
    return {
        "target": name,
        "goal": goal,
        "measured": None if value is None else fmt.format(value),
        "value": value,
        "met": None if value is None else bool(ok(value)),
        "note": note,
    }


def _clients(results: dict[str, Any]) -> str:
    n = _get(results, "enqueue", "single", "concurrency")
    return f"{n} clients" if n else "C clients"


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The issues' targets, each with its goal, the figure measured and whether it was met (None: not run)."""
    worst = None
    reads = _get(results, "bigtable", "reads") or []
    if reads:
        worst = max(reads, key=lambda r: r["p95_ms"] or 0)
    celery = _get(results, "drain", "best_celery")
    loop = _get(results, "enqueue", "floors", "enqueue_loop", "tasks_per_s")
    insert = _get(results, "enqueue", "floors", "raw_insert", "tasks_per_s")
    floor = _get(results, "drain", "floor")
    out = [
        _target(f"single POST /api/tasks ({_clients(results)}) vs in-process enqueue()", "≥ 1.0×",
                _get(results, "enqueue", "single_vs_loop"), lambda v: v >= 1.0, "{:.2f}×",
                f"one thread's enqueue() loop: {loop:,.0f} tasks/s" if loop else ""),
        _target("single POST /api/tasks p99 at 4 clients", "≤ 50 ms",
                _get(results, "enqueue", "single_few_clients", "latency", "p99_ms"), lambda v: v <= 50, "{:.1f} ms"),
        _target("batch of 500 vs raw multi-row INSERT", "≥ 70%", _get(results, "enqueue", "batch_vs_insert"),
                lambda v: v >= 0.7, "{:.0%}", f"raw INSERT: {insert:,.0f} rows/s" if insert else ""),
        _target("batch enqueue over HTTP", "≥ 5,000 tasks/s", _get(results, "enqueue", "batch", "tasks_per_s"),
                lambda v: v >= 5000, "{:,.0f} tasks/s"),
        _target("drain vs django-tasks-db", "≥ 10×", _get(results, "drain", "ratio_vs_dtdb"),
                lambda v: v >= 10, "{:.1f}×", "wall clock, start-up included"),
        _target("worker start-up to first claim", "< 0.3 s", _get(results, "drain", "startup", "own_s"),
                lambda v: v < 0.3, "{:.2f} s",
                "Django ready → first claim (the startup: line); with Python and Django set-up: "
                "{} s".format(_get(results, "drain", "startup", "first_claim_s"))),
        _target("drain share of the raw claim+complete floor", "≥ 50%", _get(results, "drain", "engine_share_of_floor"),
                lambda v: v >= 0.5, "{:.0%}",
                f"floor {floor['tasks_per_s']:,.0f} tasks/s, {floor['claimers']} claimers × {floor['batch']}/claim; "
                "steady-state share {:.0%}".format(floor.get("engine_share_steady") or 0) if floor else ""),
        _target("drain vs Celery + Redis", "≥ 5×", _get(results, "drain", "ratio_vs_celery"),
                lambda v: v >= 5, "{:.1f}×", f"against the faster Celery pool ({celery})" if celery else ""),
        _target("pickup latency p50", "≤ 20 ms", _get(results, "latency", "pickup", "p50_ms"),
                lambda v: v <= 20, "{:.1f} ms"),
        _target("pickup latency p99", "≤ 100 ms", _get(results, "latency", "pickup", "p99_ms"),
                lambda v: v <= 100, "{:.1f} ms"),
        _target("big-table endpoints p95", "≤ 150 ms", worst["p95_ms"] if worst else None,
                lambda v: v <= 150, "{:.0f} ms", f"slowest: {worst['endpoint']}" if worst else ""),
        _target("claims at 1M finished rows vs empty", "≥ 80%", _get(results, "bigtable", "drain_ratio"),
                lambda v: v >= 0.8, "{:.0%}",
                "worker drain; bare claim loop: {:.0%}".format(_get(results, "bigtable", "claim_ratio"))
                if _get(results, "bigtable", "claim_ratio") else ""),
        _target("worker RSS", "≤ 150 MB", _get(results, "memory", "worker_peak_rss_mb"),
                lambda v: v <= 150, "{:.0f} MB"),
    ]
    return out


# -- the table ---------------------------------------------------------------------------------


TITLES = {
    "drain": "1. drain: N no-op tasks queued, then drained",
    "enqueue": "2. enqueue over HTTP (manage.py serve), beside its floors",
    "latency": "3. pickup latency into an idle engine",
    "scaling": "4. scaling: drain with 1, 2, 3 worker processes",
    "fairness": "5. fairness",
    "bigtable": "6. big table",
    "memory": "7. memory (peak RSS)",
    "seed": "8. the seed's load-test protocol (demo mode, simulated handlers)",
}


def table(results: dict[str, Any]) -> str:
    m = results["machine"]
    o = results["options"]
    out = [
        "",
        f"Benchmark {m['when']}{' (quick: smoke sizes, figures not meaningful)' if o['quick'] else ''}",
        f"  {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB, {m['os']}; MariaDB {m['mariadb']}, "
        f"Redis {m['redis']}, Python {m['python']}, Django {m['django']}",
        f"  load average at start {m['loadavg_start']}, at end {m.get('loadavg_end')}",
    ]
    for name, data in results["scenarios"].items():
        out += ["", f"{TITLES.get(name, name)}  [{data.get('elapsed_s', '?')} s]", section(name, data)]
    out += ["", "Targets"]
    rows = [[t["target"], t["goal"], t["measured"] or "not run",
             "–" if t["met"] is None else ("met" if t["met"] else "MISSED"), t["note"]]
            for t in results.get("targets", [])]
    out.append(grid(["target", "goal", "measured", "", "note"], rows, left=5))
    return "\n".join(out) + "\n"


def write_json(results: dict[str, Any], path: Path, *, latest: bool = False) -> list[Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2, default=str) + "\n"
    path.write_text(text)
    written = [path]
    if latest:
        (path.parent / "latest.json").write_text(text)
        written.append(path.parent / "latest.json")
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.report RESULTS.json [--svg DIR]``: print a saved run's table again (and redraw)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m bench.report")
    parser.add_argument("results", type=Path)
    parser.add_argument("--svg", type=Path, metavar="DIR", help="also draw the charts into DIR")
    args = parser.parse_args(argv)
    import os

    import django

    # Some sections read helpers of their scenario's module, which imports the models.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "engine_site.settings")
    django.setup()
    from .charts import write_svgs

    results = json.loads(args.results.read_text())
    results["targets"] = targets(results)
    sys.stdout.write(table(results))
    if args.svg:
        for path in write_svgs(results, args.svg):
            sys.stderr.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
