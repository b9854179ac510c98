"""The benchmark's arithmetic and output (percentiles, Jain's index, options, targets, charts), without servers.

Its smoke run against real servers is in test_bench_smoke.py (MariaDB pass only); these run in both passes.
"""

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from bench import charts, report
from bench.__main__ import main as bench_main
from bench.main import check_database_url
from bench.options import Options
from bench.runtime import latency_summary
from bench.scenarios.fairness import jain
from deploy.servers import ServerError
from jobs.services.analytics import percentile


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.95) == 95
    assert percentile(values, 0.99) == 99
    assert percentile([7.0], 0.99) == 7
    assert percentile([], 0.5) is None
    summary = latency_summary([3.0, 1.0, 2.0])
    assert summary == {"n": 3, "p50_ms": 2.0, "p95_ms": 3.0, "p99_ms": 3.0, "max_ms": 3.0}


def test_jains_index() -> None:
    assert jain([5.0, 5.0]) == pytest.approx(1.0)
    assert jain([1.0, 0.0]) == pytest.approx(0.5)
    assert jain([3.0, 1.0]) == pytest.approx(16 / 20)
    assert jain([]) is None


def test_quick_sizes_and_explicit_values() -> None:
    o = Options.sized(quick=True, tasks=123)
    assert o.quick and o.tasks == 123 and o.rows == 2_000
    full = Options.sized(quick=False)
    assert (full.tasks, full.rows, full.rate, full.batch_size) == (20_000, 1_000_000, 50.0, 500)


def test_unknown_scenario_is_refused_before_anything_starts(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        bench_main(["nope"])
    assert exit_.value.code == 2
    assert "unknown scenario 'nope'" in capsys.readouterr().err


def test_a_given_database_must_be_a_benchmark_database() -> None:
    with pytest.raises(ServerError, match="contains 'bench'"):
        check_database_url("mysql://u:p@db:3306/jobs")
    with pytest.raises(ServerError, match="MySQL/MariaDB"):
        check_database_url("sqlite:///tmp/x.sqlite3")
    check_database_url("mysql://u:p@db:3306/jobs_bench")


def fake_results() -> dict[str, Any]:
    run: dict[str, Any] = {
        "system": "engine", "pool": "runworkers (threads)", "processes": 2, "threads": 8, "completed": 10,
        "tasks": 10, "seconds": 1.0, "tasks_per_s": 10.0, "first_done_s": 0.5, "steady_tasks_per_s": 20.0,
        "memory": {"worker_peak_rss_mb": 90.0, "parent_peak_rss_mb": 80.0, "worker_processes": 2},
        "cpu": {"busy_cores": 1.9, "cores": 2, "cpu_share": {"workers": 0.6, "mariadb": 0.4},
                "cpu_s": {"workers": 0.6, "mariadb": 0.4, "bench": 0.1}},
    }
    peer = {**run, "system": "django-tasks-db", "tasks_per_s": 1.0, "steady_tasks_per_s": 2.0,
            "cpu": {**run["cpu"], "cpu_s": {"workers": 2.0, "mariadb": 1.0}}}
    return {
        "machine": {"when": "now", "cores": 2, "cpu": "x", "memory_gb": 24, "os": "Debian",
                    "mariadb": "10.11.19-MariaDB", "redis": "7.0.15", "python": "3.12", "django": "6.1",
                    "loadavg_start": [0, 0, 0]},
        "options": {"quick": False},
        "scenarios": {
            "drain": {"tasks": 10, "processes": 2, "threads": 8, "systems": [run, peer], "best_celery": None,
                      "ratios": {"django-tasks-db": {"wall": 10.0, "steady": 10.0}}, "ratio_vs_dtdb": 10.0,
                      "ratio_vs_celery": None, "elapsed_s": 1},
            "latency": {"error": "boom", "elapsed_s": 0},
        },
    }


def test_targets_say_met_missed_or_not_run() -> None:
    results = fake_results()
    by_name = {t["target"]: t for t in report.targets(results)}
    assert by_name["drain vs django-tasks-db"]["met"] is True
    assert by_name["drain vs Celery + Redis"]["met"] is None
    assert by_name["pickup latency p50"]["measured"] is None
    results["targets"] = list(by_name.values())
    text = report.table(results)
    assert "FAILED: boom" in text
    assert "engine ÷ django-tasks-db: 10.0× (wall), 10.0× (steady), 3.0× (CPU per task)" in text
    assert report.cpu_ms_per_task(results["scenarios"]["drain"]["systems"][0]) == 100.0  # 1 CPU-s over 10 tasks


def test_charts_are_valid_svg(tmp_path: Path) -> None:
    paths = charts.write_svgs(fake_results(), tmp_path)
    assert [p.name for p in paths] == ["drain.svg", "drain-cpu.svg"]
    root = ET.parse(paths[0]).getroot()  # noqa: S314 — our own file
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    svg = charts.bar_chart("t <&>", [("a", 1.0, True), ("b", 2.0, False)], unit="ms", target=1.5, target_label="x")
    assert ET.fromstring(svg).tag.endswith("svg")  # noqa: S314
