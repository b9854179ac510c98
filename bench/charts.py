"""The benchmark's SVG charts (docs/bench/*.svg): one horizontal bar chart per scenario."""

from html import escape
from pathlib import Path
from typing import Any

from .report import cpu_ms_per_task

OURS = "#2b6cb0"
PEER = "#a0aec0"
TARGET = "#c53030"


def bar_chart(title: str, bars: list[tuple[str, float, bool]], *, unit: str, subtitle: str = "",
              target: float | None = None, target_label: str = "", fmt: str = "{:,.0f}") -> str:
    """A horizontal bar chart: (label, value, ours?) per bar; an optional target line."""
    width, label_w, value_w, row_h, top = 760, 250, 110, 30, 58
    plot_w = width - label_w - value_w - 20
    height = top + row_h * len(bars) + 30
    peak = max([v for _, v, _ in bars] + ([target] if target else []) + [1e-9])
    scale = plot_w / peak
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="13">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="16" y="24" font-size="16" font-weight="bold">{escape(title)}</text>',
        f'<text x="16" y="44" fill="#4a5568">{escape(subtitle)}</text>',
    ]
    for i, (label, value, ours) in enumerate(bars):
        y = top + i * row_h
        w = max(1.0, value * scale)
        out.append(f'<text x="{label_w - 8}" y="{y + 19}" text-anchor="end">{escape(label)}</text>')
        out.append(f'<rect x="{label_w}" y="{y + 5}" width="{w:.1f}" height="{row_h - 10}" '
                   f'fill="{OURS if ours else PEER}" rx="2"/>')
        out.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 19}">{escape(fmt.format(value))} {escape(unit)}</text>')
    if target:
        x = label_w + target * scale
        out.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{top + row_h * len(bars)}" '
                   f'stroke="{TARGET}" stroke-width="2" stroke-dasharray="5,4"/>')
        out.append(f'<text x="{x:.1f}" y="{top + row_h * len(bars) + 18}" text-anchor="middle" '
                   f'fill="{TARGET}">{escape(target_label)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def charts(results: dict[str, Any]) -> dict[str, str]:
    s = results["scenarios"]
    m = results["machine"]
    where = f"{m['cores']} cores, MariaDB {m['mariadb'].split('-')[0]}, Redis {m['redis']}"
    out: dict[str, str] = {}
    d = s.get("drain")
    if d and "error" not in d:
        bars = [(f"{x['system']} ({x['processes']}×{x['threads']})", x["tasks_per_s"] or 0, x["system"] == "engine")
                for x in d["systems"]]
        f = d.get("floor")
        if f:  # the floor first: the bar every other one is read against
            bars.insert(0, (f"floor: raw SQL claim+complete ({f['claimers']})", f["tasks_per_s"] or 0, False))
        out["drain"] = bar_chart(f"Drain {d['tasks']:,} no-op tasks", bars, unit="tasks/s",
                                 subtitle=f"{d['processes']} worker processes each; start-up included; {where}")
        bars = [(f"{x['system']} ({x['processes']}×{x['threads']})", cpu_ms_per_task(x) or 0, x["system"] == "engine")
                for x in d["systems"]]
        out["drain-cpu"] = bar_chart("CPU per task (lower is better)", bars, unit="ms", fmt="{:.2f}",
                                     subtitle="the system's processes + MariaDB + Redis, CPU time per no-op task")
    d = s.get("scaling")
    if d and "error" not in d:
        bars = [(f"{r['processes']} process{'es' if r['processes'] > 1 else ''} × {r['threads']} threads",
                 r["tasks_per_s"] or 0, True) for r in d["runs"]]
        out["scaling"] = bar_chart("Drain throughput by worker processes", bars, unit="tasks/s",
                                   subtitle=f"{d['tasks']:,} no-op tasks; {where}")
    d = s.get("enqueue")
    if d and "error" not in d:
        floors = d.get("floors", {})
        c = d["single"]["concurrency"]
        bars = [(f"floor: GET /api/health ×{c} (req/s)", floors["health"]["requests_per_s"] or 0, False)
                ] if "health" in floors else []
        if "enqueue_loop" in floors:
            bars.append(("floor: in-process enqueue() loop", floors["enqueue_loop"]["tasks_per_s"] or 0, False))
        bars.append((f"single POST ×{c} clients", d["single"]["tasks_per_s"], True))
        if d.get("single_few_clients"):
            bars.append((f"single POST ×{d['single_few_clients']['concurrency']} clients",
                         d["single_few_clients"]["tasks_per_s"], True))
        out["enqueue"] = bar_chart("Single enqueues over HTTP, beside their floors", bars, unit="/s",
                                   subtitle=f"{d['server']}; {where}")
        bars = [(f"batch of {d['batch']['tasks_per_request']}", d["batch"]["tasks_per_s"], True)]
        if "raw_insert" in floors:
            bars.insert(0, (f"floor: raw INSERT of {floors['raw_insert']['rows_per_statement']} rows",
                            floors["raw_insert"]["tasks_per_s"] or 0, False))
        out["enqueue-batch"] = bar_chart("Batch enqueue over HTTP, beside the raw INSERT", bars, unit="tasks/s",
                                         subtitle=where, target=5000, target_label="batch target 5,000/s")
    d = s.get("seed")
    if d and "error" not in d:
        bars = []
        for r in d["runs"]:
            label = f"{r['engines']} × {r['threads']}"
            if r["seed_published_tasks_per_s"]:
                bars.append((f"the seed, {label} (published)", r["seed_published_tasks_per_s"], False))
            bars.append((f"engine, {label}", r["tasks_per_s"] or 0, True))
            if r["ceiling_tasks_per_s"]:
                bars.append((f"ceiling, {label} (slots ÷ avg run)", r["ceiling_tasks_per_s"], False))
        out["seed"] = bar_chart("The seed's load-test protocol", bars, unit="tasks/s", fmt="{:.2f}",
                                subtitle=f"{d['seeds']} × 50 simulated tasks (0.5–3 s, 20% fail); {where}")
    d = s.get("latency")
    if d and "error" not in d:
        p = d["pickup"]
        bars = [("p50", p["p50_ms"] or 0, True), ("p95", p["p95_ms"] or 0, True), ("p99", p["p99_ms"] or 0, True)]
        out["latency"] = bar_chart("Pickup latency (enqueue → start)", bars, unit="ms", fmt="{:.1f}",
                                   subtitle=f"{d['rate']:g} tasks/s into an idle engine; {where}",
                                   target=100, target_label="p99 target 100 ms")
    d = s.get("fairness")
    if d and "error" not in d:
        bars = [("quiet tenant alone, p95", d["quiet_alone"]["quiet_wait"]["p95_ms"] or 0, True),
                (f"behind {d['quiet_behind_noisy']['noisy_backlog']:,} noisy, p95",
                 d["quiet_behind_noisy"]["quiet_wait"]["p95_ms"] or 0, True)]
        out["fairness"] = bar_chart("Quiet tenant's queue wait", bars, unit="ms", fmt="{:.1f}",
                                    subtitle=f"Jain's index, weights 1 and 3: {d['weighted']['jain_index']}")
    d = s.get("bigtable")
    if d and "error" not in d:
        bars = [(r["endpoint"].replace("GET ", ""), r["p95_ms"] or 0, True) for r in d["reads"]]
        out["bigtable"] = bar_chart(f"p95 with {d['rows']:,} finished tasks", bars, unit="ms", fmt="{:.0f}",
                                    subtitle=f"sequential requests through serve; {where}",
                                    target=150, target_label="target 150 ms")
    d = s.get("memory")
    if d and "error" not in d:
        bars = [("worker process", d["worker_peak_rss_mb"] or 0, True),
                ("supervisor", d["supervisor_peak_rss_mb"] or 0, True),
                ("web processes (serve)", d["web_peak_rss_mb"] or 0, True)]
        peers = s.get("drain")
        if peers and "error" not in peers:
            bars += [(f"{x['system']} worker", x["memory"]["worker_peak_rss_mb"] or 0, False)
                     for x in peers["systems"][1:]]
        out["memory"] = bar_chart("Peak RSS", bars, unit="MB", subtitle=where, target=150,
                                  target_label="worker target 150 MB")
    return out


def write_svgs(results: dict[str, Any], directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, svg in charts(results).items():
        path = directory / f"{name}.svg"
        path.write_text(svg)
        written.append(path)
    return written
