"""The benchmark's output: the table on stdout, the targets and the JSON file (the charts: ``bench.charts``)."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

# -- targets (the issue's list) ------------------------------------------------------------------


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


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    worst = None
    reads = _get(results, "bigtable", "reads") or []
    if reads:
        worst = max(reads, key=lambda r: r["p95_ms"] or 0)
    celery = _get(results, "drain", "best_celery")
    out = [
        _target("drain vs django-tasks-db", "≥ 10×", _get(results, "drain", "ratio_vs_dtdb"),
                lambda v: v >= 10, "{:.1f}×"),
        _target("drain vs Celery + Redis", "≥ 5×", _get(results, "drain", "ratio_vs_celery"),
                lambda v: v >= 5, "{:.1f}×", f"against the faster Celery pool ({celery})" if celery else ""),
        _target("pickup latency p50", "≤ 20 ms", _get(results, "latency", "pickup", "p50_ms"),
                lambda v: v <= 20, "{:.1f} ms"),
        _target("pickup latency p99", "≤ 100 ms", _get(results, "latency", "pickup", "p99_ms"),
                lambda v: v <= 100, "{:.1f} ms"),
        _target("batch enqueue over HTTP", "≥ 5,000 tasks/s", _get(results, "enqueue", "batch", "tasks_per_s"),
                lambda v: v >= 5000, "{:,.0f} tasks/s"),
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


def _fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and not spec:
        return f"{value:,.1f}"
    if isinstance(value, int) and not spec:
        return f"{value:,}"
    return format(value, spec) if spec else str(value)


def _grid(headers: list[str], rows: list[list[str]], indent: str = "  ", *, left: int = 1) -> str:
    """Columns padded to their widest cell; the first ``left`` are text (left-aligned), the rest numbers."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return indent + "  ".join(c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in
                                  enumerate(zip(cells, widths, strict=True))).rstrip()

    return "\n".join([line(headers), indent + "  ".join("-" * w for w in widths), *(line(r) for r in rows)])


def cpu_ms_per_task(run: dict[str, Any]) -> float | None:
    """CPU the system spent per task: its processes plus MariaDB and Redis (not the benchmark's poller).

    Unlike tasks/s it hardly moves when other processes load the machine.
    """
    used = run.get("cpu", {}).get("cpu_s", {})
    total = sum(v for k, v in used.items() if k != "bench")
    return round(total * 1000 / run["tasks"], 3) if run.get("tasks") and total else None


def _db_lines(systems: list[dict[str, Any]]) -> list[str]:
    return [f"  {s['system']}: {s['db']['statements_per_task']} statements, {s['db']['commits_per_task']} commits, "
            f"{s['db']['index_reads_per_task']:,} index/row reads per task (MariaDB counters)"
            for s in systems if s.get("db")]


def _drain_rows(systems: list[dict[str, Any]]) -> str:
    rows = []
    for s in systems:
        rows.append([
            s["system"], s["pool"], f"{s['processes']}×{s['threads']}", _fmt(s["completed"]), _fmt(s["seconds"], ".2f"),
            _fmt(s["tasks_per_s"], ",.0f"), _fmt(s["first_done_s"], ".2f"), _fmt(s["steady_tasks_per_s"], ",.0f"),
            _fmt(s["memory"]["worker_peak_rss_mb"], ".0f"), _fmt(s["cpu"]["busy_cores"], ".2f"),
            _fmt(s["cpu"].get("other_processes_cores"), ".2f"), _fmt(cpu_ms_per_task(s), ".2f"),
        ])
    return _grid(["system", "pool", "P×T", "done", "s", "tasks/s", "1st done s", "steady/s", "RSS MB", "cores",
                  "others", "CPU ms/task"], rows, left=2)


def _section(name: str, data: dict[str, Any]) -> str:
    if "error" in data:
        return f"  FAILED: {data['error']}"
    lines: list[str] = []
    if name == "drain":
        gated = [data["with_gates"]] if data.get("with_gates") else []
        lines.append(_drain_rows([*data["systems"][:1], *gated, *data["systems"][1:]]))
        if data.get("gates_ratio"):
            lines.append(f"  with gates (concurrency keys + a pause set) vs without: {data['gates_ratio']:.0%} "
                         "of the tasks/s")
        lines.append("  cores: CPU kept busy by the system's processes, MariaDB, Redis and the benchmark's poller; "
                     "others: by other processes on the machine;\n  CPU ms/task: the system's processes + MariaDB + "
                     "Redis, per task (barely moved by other load)")
        lines += _db_lines(data["systems"])
        ours = cpu_ms_per_task(data["systems"][0])
        for system, r in data["ratios"].items():
            peer = next(x for x in data["systems"] if x["system"] == system)
            by_cpu = cpu_ms_per_task(peer)
            cpu_ratio = by_cpu / ours if by_cpu and ours else None
            lines.append(f"  engine ÷ {system}: {_fmt(r['wall'], '.1f')}× (wall), {_fmt(r['steady'], '.1f')}× "
                         f"(steady), {_fmt(cpu_ratio, '.1f')}× (CPU per task)")
    elif name == "scaling":
        lines.append(_drain_rows(data["runs"]))
        lines += _db_lines(data["runs"])
        from .scenarios.scaling import bound

        lines += [f"  {r['processes']} process(es): {bound(r)}" for r in data["runs"]]
    elif name == "enqueue":
        rows = []
        for label, r in (("single POST /api/tasks", data["single"]), ("POST /api/tasks/batch", data["batch"])):
            lat = r["latency"]
            rows.append([label, str(r["concurrency"]), _fmt(r["requests"]), _fmt(r["requests_per_s"], ",.0f"),
                         _fmt(r["tasks_per_s"], ",.0f"), _fmt(lat["p50_ms"], ".1f"), _fmt(lat["p95_ms"], ".1f"),
                         _fmt(lat["p99_ms"], ".1f")])
        lines.append(_grid(["request", "clients", "requests", "req/s", "tasks/s", "p50 ms", "p95 ms", "p99 ms"], rows))
        lines.append(f"  server: {data['server']}; peak RSS {_fmt(data['web_peak_rss_mb'], '.0f')} MB")
    elif name == "latency":
        p = data["pickup"]
        lines.append(f"  {data['tasks']} tasks at {data['rate']:g}/s (achieved {_fmt(data['achieved_rate'])}/s) into "
                     f"{data['processes']}×{data['threads']} idle workers")
        lines.append(f"  enqueue → start: p50 {_fmt(p['p50_ms'], '.1f')} ms, p95 {_fmt(p['p95_ms'], '.1f')} ms, "
                     f"p99 {_fmt(p['p99_ms'], '.1f')} ms, max {_fmt(p['max_ms'], '.1f')} ms")
        c = data["enqueue_call"]
        lines.append(f"  the enqueue call itself: p50 {_fmt(c['p50_ms'], '.1f')} ms, p99 {_fmt(c['p99_ms'], '.1f')} ms")
    elif name == "fairness":
        a, b = data["quiet_alone"], data["quiet_behind_noisy"]
        rows = [["quiet tenant alone", _fmt(a["quiet_wait"]["p50_ms"], ".1f"), _fmt(a["quiet_wait"]["p95_ms"], ".1f"),
                 _fmt(a["quiet_wait"]["max_ms"], ".1f"), "–"],
                [f"behind {b['noisy_backlog']:,} noisy", _fmt(b["quiet_wait"]["p50_ms"], ".1f"),
                 _fmt(b["quiet_wait"]["p95_ms"], ".1f"), _fmt(b["quiet_wait"]["max_ms"], ".1f"),
                 f"{b['noisy_pending_when_quiet_began']:,} → {b['noisy_pending_when_quiet_ended']:,}"]]
        lines.append(_grid(["quiet queue wait", "p50 ms", "p95 ms", "max ms", "noisy pending"], rows))
        lines.append(f"  quiet p95 behind noisy ÷ alone: {_fmt(data['p95_ratio'], '.2f')}×")
        w = data["weighted"]
        lines.append(f"  weights 1 and 3, {w['tasks_per_tenant']:,} tasks each: weight-3 share "
                     f"{_fmt(w['weight_3_share'], '.3f')} (ideal 0.75) over {w['window_s']} s; "
                     f"Jain's index {_fmt(w['jain_index'], '.4f')}")
        for key in ("time_fair", "per_task"):
            t = data[key]
            lines.append(f"  1 s vs 10 ms tasks, equal weights, charged {t['charged']}: 1 s tenant's share of worker "
                         f"time {_fmt(t['long_share'], '.3f')} (ideal 0.5), Jain's index {_fmt(t['jain_index'], '.4f')}"
                         f", {t['window_s']:g} s window{'' if t['both_had_work'] else ' (a backlog ran out)'}")
        rows = []
        for d in (data["behind_long_no_cap"], data["behind_long_capped"]):
            q = d["quiet_wait"]
            cap = f"holder capped at {d['cap']}" if d["cap"] else "no cap"
            rows.append([f"behind {d['slots']} × {d['holder_task_s']:g} s sleeps, {cap}", _fmt(q["p50_ms"], ".1f"),
                         _fmt(q["p95_ms"], ".1f"), _fmt(q["max_ms"], ".1f")])
        lines.append(_grid(["quiet queue wait", "p50 ms", "p95 ms", "max ms"], rows))
        lines.append(f"  quiet p95 behind long tasks, no cap ÷ capped: {_fmt(data['cap_p95_ratio'], '.1f')}×")
    elif name == "bigtable":
        ce, cb, de, db = data["claims_empty"], data["claims_big"], data["drain_empty"], data["drain_big"]
        lines.append(f"  {data['rows']:,} finished rows loaded in {data['load_s']} s; MariaDB idle again after "
                     f"{data.get('settle_s', '?')} s more")
        ce_cpu, cb_cpu = cpu_ms_per_task(de), cpu_ms_per_task(db)
        lines.append(_grid(["claim throughput", "empty", f"{data['rows']:,} rows", "ratio"], [
            ["workers drain, tasks/s", _fmt(de["tasks_per_s"], ",.0f"), _fmt(db["tasks_per_s"], ",.0f"),
             _fmt(data["drain_ratio"], ".0%")],
            ["workers drain, CPU ms/task", _fmt(ce_cpu, ".2f"), _fmt(cb_cpu, ".2f"),
             _fmt(ce_cpu / cb_cpu if ce_cpu and cb_cpu else None, ".0%")],
            [f"bare claim loop ({ce['batch']}/claim), tasks/s", _fmt(ce["tasks_per_s"], ",.0f"),
             _fmt(cb["tasks_per_s"], ",.0f"), _fmt(data["claim_ratio"], ".0%")],
            ["bare claim loop, ms per claim", _fmt(ce["ms_per_claim"], ".2f"), _fmt(cb["ms_per_claim"], ".2f"), ""],
        ]))
        lines += _db_lines([de, db])
        lines.append(_grid(["endpoint", "p50 ms", "p95 ms", "max ms", "KiB"], [
            [r["endpoint"], _fmt(r["p50_ms"], ".1f"), _fmt(r["p95_ms"], ".1f"), _fmt(r["max_ms"], ".1f"),
             _fmt(r["bytes"] / 1024, ".1f")] for r in data["reads"]]))
        if data["console_tasks_page"] != "measured":
            lines.append(f"  console tasks page: {data['console_tasks_page']}")
    elif name == "memory":
        lines.append(f"  worker process (peak of {data['worker_processes']}, {data['threads']} threads, "
                     f"{data['tasks']:,} tasks): {_fmt(data['worker_peak_rss_mb'], '.0f')} MB")
        lines.append(f"  supervisor: {_fmt(data['supervisor_peak_rss_mb'], '.0f')} MB")
        lines.append(f"  web process (daphne): {_fmt(data['web_rss_at_start_mb'], '.0f')} MB at start, "
                     f"{_fmt(data['web_peak_rss_mb'], '.0f')} MB peak under load")
    return "\n".join(lines)


TITLES = {
    "drain": "1. drain: N no-op tasks queued, then drained",
    "enqueue": "2. enqueue over HTTP (daphne)",
    "latency": "3. pickup latency into an idle engine",
    "scaling": "4. scaling: drain with 1, 2, 3 worker processes",
    "fairness": "5. fairness",
    "bigtable": "6. big table",
    "memory": "7. memory (peak RSS)",
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
        out += ["", f"{TITLES.get(name, name)}  [{data.get('elapsed_s', '?')} s]", _section(name, data)]
    out += ["", "Targets"]
    rows = [[t["target"], t["goal"], t["measured"] or "not run",
             "–" if t["met"] is None else ("met" if t["met"] else "MISSED"), t["note"]]
            for t in results.get("targets", [])]
    out.append(_grid(["target", "goal", "measured", "", "note"], rows, left=5))
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
