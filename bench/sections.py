"""The benchmark's table, scenario by scenario: each figure beside its floor or peer (``bench.report`` prints it)."""

from typing import Any


def fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and not spec:
        return f"{value:,.1f}"
    if isinstance(value, int) and not spec:
        return f"{value:,}"
    return format(value, spec) if spec else str(value)


def grid(headers: list[str], rows: list[list[str]], indent: str = "  ", *, left: int = 1) -> str:
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
            s["system"], s["pool"], f"{s['processes']}×{s['threads']}", fmt(s["completed"]), fmt(s["seconds"], ".2f"),
            fmt(s["tasks_per_s"], ",.0f"), fmt(s.get("first_start_s"), ".2f"), fmt(s["first_done_s"], ".2f"),
            fmt(s["steady_tasks_per_s"], ",.0f"),
            fmt(s["memory"]["worker_peak_rss_mb"], ".0f"), fmt(s["cpu"]["busy_cores"], ".2f"),
            fmt(s["cpu"].get("other_processes_cores"), ".2f"), fmt(cpu_ms_per_task(s), ".2f"),
        ])
    return grid(["system", "pool", "P×T", "done", "s", "tasks/s", "1st start s", "1st done s", "steady/s", "RSS MB",
                 "cores", "others", "CPU ms/task"], rows, left=2)


def section(name: str, data: dict[str, Any]) -> str:
    if "error" in data:
        return f"  FAILED: {data['error']}"
    lines: list[str] = []
    if name == "drain":
        gated = [data["with_gates"]] if data.get("with_gates") else []
        lines.append(_drain_rows([*data["systems"][:1], *gated, *data["systems"][1:]]))
        if data.get("gates_ratio"):
            lines.append(f"  with gates (concurrency keys + a pause set) vs without: {data['gates_ratio']:.0%} "
                         "of the tasks/s")
        lines.append("  1st start s: spawn → the first task's started_at; 1st done s: → the poller saw the first "
                     "completion;\n  cores: CPU kept busy by the system's processes, MariaDB, Redis and the "
                     "benchmark's poller; others: by other processes on the machine;\n  CPU ms/task: the system's "
                     "processes + MariaDB + Redis, per task (barely moved by other load)")
        f = data.get("floor")
        if f:
            lines.append(f"  floor, raw SQL claim + complete of the same {f['tasks']:,} rows: "
                         f"{fmt(f['seconds'], '.2f')} s, {fmt(f['tasks_per_s'], ',.0f')} tasks/s ({f['how']});\n"
                         f"  engine's share of the floor: {fmt(f['engine_share'], '.0%')} (floor s ÷ engine s, "
                         f"start-up included), {fmt(f['engine_share_steady'], '.0%')} (÷ the engine's first-to-last "
                         "completion)")
        lines += _db_lines(data["systems"])
        ours = cpu_ms_per_task(data["systems"][0])
        for system, r in data["ratios"].items():
            peer = next(x for x in data["systems"] if x["system"] == system)
            by_cpu = cpu_ms_per_task(peer)
            cpu_ratio = by_cpu / ours if by_cpu and ours else None
            lines.append(f"  engine ÷ {system}: {fmt(r['wall'], '.1f')}× (wall), {fmt(r['steady'], '.1f')}× "
                         f"(steady), {fmt(cpu_ratio, '.1f')}× (CPU per task)")
    elif name == "scaling":
        lines.append(_drain_rows(data["runs"]))
        lines += _db_lines(data["runs"])
        from .scenarios.scaling import bound

        lines += [f"  {r['processes']} process(es): {bound(r)}" for r in data["runs"]]
    elif name == "enqueue":
        lines += _enqueue(data)
    elif name == "seed":
        lines += _seed(data)
    elif name == "latency":
        p = data["pickup"]
        lines.append(f"  {data['tasks']} tasks at {data['rate']:g}/s (achieved {fmt(data['achieved_rate'])}/s) into "
                     f"{data['processes']}×{data['threads']} idle workers")
        lines.append(f"  enqueue → start: p50 {fmt(p['p50_ms'], '.1f')} ms, p95 {fmt(p['p95_ms'], '.1f')} ms, "
                     f"p99 {fmt(p['p99_ms'], '.1f')} ms, max {fmt(p['max_ms'], '.1f')} ms")
        c = data["enqueue_call"]
        lines.append(f"  the enqueue call itself: p50 {fmt(c['p50_ms'], '.1f')} ms, p99 {fmt(c['p99_ms'], '.1f')} ms")
    elif name == "fairness":
        a, b = data["quiet_alone"], data["quiet_behind_noisy"]
        rows = [["quiet tenant alone", fmt(a["quiet_wait"]["p50_ms"], ".1f"), fmt(a["quiet_wait"]["p95_ms"], ".1f"),
                 fmt(a["quiet_wait"]["max_ms"], ".1f"), "–"],
                [f"behind {b['noisy_backlog']:,} noisy", fmt(b["quiet_wait"]["p50_ms"], ".1f"),
                 fmt(b["quiet_wait"]["p95_ms"], ".1f"), fmt(b["quiet_wait"]["max_ms"], ".1f"),
                 f"{b['noisy_pending_when_quiet_began']:,} → {b['noisy_pending_when_quiet_ended']:,}"]]
        lines.append(grid(["quiet queue wait", "p50 ms", "p95 ms", "max ms", "noisy pending"], rows))
        lines.append(f"  quiet p95 behind noisy ÷ alone: {fmt(data['p95_ratio'], '.2f')}×")
        w = data["weighted"]
        lines.append(f"  weights 1 and 3, {w['tasks_per_tenant']:,} tasks each: weight-3 share "
                     f"{fmt(w['weight_3_share'], '.3f')} (ideal 0.75) over {w['window_s']} s; "
                     f"Jain's index {fmt(w['jain_index'], '.4f')}")
        for key in ("time_fair", "per_task"):
            t = data[key]
            lines.append(f"  1 s vs 10 ms tasks, equal weights, charged {t['charged']}: 1 s tenant's share of worker "
                         f"time {fmt(t['long_share'], '.3f')} (ideal 0.5), Jain's index {fmt(t['jain_index'], '.4f')}"
                         f", {t['window_s']:g} s window{'' if t['both_had_work'] else ' (a backlog ran out)'}")
        rows = []
        for d in (data["behind_long_no_cap"], data["behind_long_capped"]):
            q = d["quiet_wait"]
            cap = f"holder capped at {d['cap']}" if d["cap"] else "no cap"
            rows.append([f"behind {d['slots']} × {d['holder_task_s']:g} s sleeps, {cap}", fmt(q["p50_ms"], ".1f"),
                         fmt(q["p95_ms"], ".1f"), fmt(q["max_ms"], ".1f")])
        lines.append(grid(["quiet queue wait", "p50 ms", "p95 ms", "max ms"], rows))
        lines.append(f"  quiet p95 behind long tasks, no cap ÷ capped: {fmt(data['cap_p95_ratio'], '.1f')}×")
    elif name == "bigtable":
        ce, cb, de, db = data["claims_empty"], data["claims_big"], data["drain_empty"], data["drain_big"]
        lines.append(f"  {data['rows']:,} finished rows loaded in {data['load_s']} s; MariaDB idle again after "
                     f"{data.get('settle_s', '?')} s more")
        ce_cpu, cb_cpu = cpu_ms_per_task(de), cpu_ms_per_task(db)
        lines.append(grid(["claim throughput", "empty", f"{data['rows']:,} rows", "ratio"], [
            ["workers drain, tasks/s", fmt(de["tasks_per_s"], ",.0f"), fmt(db["tasks_per_s"], ",.0f"),
             fmt(data["drain_ratio"], ".0%")],
            ["workers drain, CPU ms/task", fmt(ce_cpu, ".2f"), fmt(cb_cpu, ".2f"),
             fmt(ce_cpu / cb_cpu if ce_cpu and cb_cpu else None, ".0%")],
            [f"bare claim loop ({ce['batch']}/claim), tasks/s", fmt(ce["tasks_per_s"], ",.0f"),
             fmt(cb["tasks_per_s"], ",.0f"), fmt(data["claim_ratio"], ".0%")],
            ["bare claim loop, ms per claim", fmt(ce["ms_per_claim"], ".2f"), fmt(cb["ms_per_claim"], ".2f"), ""],
        ]))
        lines += _db_lines([de, db])
        lines.append(grid(["endpoint", "p50 ms", "p95 ms", "max ms", "KiB"], [
            [r["endpoint"], fmt(r["p50_ms"], ".1f"), fmt(r["p95_ms"], ".1f"), fmt(r["max_ms"], ".1f"),
             fmt(r["bytes"] / 1024, ".1f")] for r in data["reads"]]))
        if data["console_tasks_page"] != "measured":
            lines.append(f"  console tasks page: {data['console_tasks_page']}")
    elif name == "memory":
        lines.append(f"  worker process (peak of {data['worker_processes']}, {data['threads']} threads, "
                     f"{data['tasks']:,} tasks): {fmt(data['worker_peak_rss_mb'], '.0f')} MB")
        lines.append(f"  supervisor: {fmt(data['supervisor_peak_rss_mb'], '.0f')} MB")
        lines.append(f"  web processes (serve, largest): {fmt(data['web_rss_at_start_mb'], '.0f')} MB at start, "
                     f"{fmt(data['web_peak_rss_mb'], '.0f')} MB peak under load")
    return "\n".join(lines)


def _enqueue(data: dict[str, Any]) -> list[str]:
    floors = data.get("floors", {})
    rows = []
    health = floors.get("health")
    loads = [("GET /api/health (floor: the server alone)", health)] if health else []
    loads += [("single POST /api/tasks", data["single"]), ("single POST /api/tasks", data.get("single_few_clients")),
              (f"POST /api/tasks/batch of {data['batch']['tasks_per_request']}", data["batch"])]
    for label, r in loads:
        if not r:
            continue
        lat = r["latency"]
        rows.append([label, str(r["concurrency"]), fmt(r["requests"]), fmt(r["requests_per_s"], ",.0f"),
                     fmt(r.get("tasks_per_s"), ",.0f"), fmt(lat["p50_ms"], ".1f"), fmt(lat["p95_ms"], ".1f"),
                     fmt(lat["p99_ms"], ".1f")])
    lines = [grid(["request", "clients", "requests", "req/s", "tasks/s", "p50 ms", "p95 ms", "p99 ms"], rows)]
    loop, insert = floors.get("enqueue_loop"), floors.get("raw_insert")
    if loop:
        lines.append(f"  floor, in-process enqueue() loop: {fmt(loop['tasks_per_s'], ',.0f')} tasks/s ({loop['how']}); "
                     f"single POST ×{data['single']['concurrency']} ÷ it: {fmt(data.get('single_vs_loop'), '.2f')}×; "
                     f"÷ GET /api/health: {fmt(data.get('single_vs_health'), '.0%')}")
    if insert:
        lines.append(f"  floor, raw multi-row INSERT of {insert['rows_per_statement']} rows: "
                     f"{fmt(insert['tasks_per_s'], ',.0f')} rows/s; batch ÷ it: "
                     f"{fmt(data.get('batch_vs_insert'), '.0%')}")
    db = data["single"].get("db_per_request")
    if db:
        lines.append(f"  one single POST: {db['statements']} statements ({db['selects']} SELECT, {db['inserts']} "
                     f"INSERT, {db['updates']} UPDATE, {db['set_options']} SET), {db['commits']} commits, "
                     f"{db['rollbacks']} rollbacks (MariaDB's global counters around the load ÷ requests)")
    elif "db_per_request" in data["single"]:
        lines.append("  statements per request: not counted (no MariaDB counters)")
    lines.append(f"  server: {data['server']}; peak RSS {fmt(data['web_peak_rss_mb'], '.0f')} MB")
    return lines


def _seed(data: dict[str, Any]) -> list[str]:
    rows = [[f"{r['engines']} engine{'s' if r['engines'] > 1 else ''} × {r['threads']}", fmt(r["total_tasks"]),
             fmt(r["seconds"], ".1f"), fmt(r["tasks_per_s"], ".2f"), fmt(r["seed_published_tasks_per_s"], ".1f"),
             fmt(r["vs_seed"], ".2f"), fmt(r["ceiling_tasks_per_s"], ".2f"), fmt(r["avg_execution_ms"], ",.0f"),
             fmt(r["avg_queue_wait_ms"], ",.0f"), fmt(r["waiting_at_stop"])] for r in data["runs"]]
    return [grid(["workers", "tasks", "s", "tasks/s", "seed's", "÷ seed's", "ceiling", "avg exec ms", "avg wait ms",
                  "waiting"], rows),
            f"  the seed's own protocol: {data['seeds']} × POST /api/demo/seed ({data['per_seed']} simulated tasks "
            "each, 0.5–3 s, 20% fail), polled until none pending or running;\n  seed's: its published figures "
            "(1 × 4: 1.8, 3 × 4: 4.6 tasks/s); ceiling: worker slots ÷ the average execution time; waiting: retries "
            "still backing off when the tool stopped"]
