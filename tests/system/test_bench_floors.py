"""The floors' targets, table lines and chart bars (issue 14), from figures given by hand: no servers."""

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from bench import charts, report
from bench.floors import statements_per_request

LATENCY = {"n": 10, "p50_ms": 10.0, "p95_ms": 20.0, "p99_ms": 30.0, "max_ms": 40.0}


def load(concurrency: int, tasks_per_s: float, *, per: int = 1, p99: float = 30.0) -> dict[str, Any]:
    return {"requests": 100, "concurrency": concurrency, "tasks_per_request": per, "seconds": 1.0,
            "requests_per_s": tasks_per_s / per, "tasks_per_s": tasks_per_s, "statuses": {"201": 100},
            "created": 100 * per, "latency": {**LATENCY, "p99_ms": p99}}


def results() -> dict[str, Any]:
    engine = {"system": "engine", "pool": "runworkers (threads)", "processes": 2, "threads": 8, "completed": 100,
              "tasks": 100, "seconds": 2.0, "tasks_per_s": 50.0, "first_start_s": 0.25, "first_done_s": 0.3,
              "steady_tasks_per_s": 100.0, "memory": {"worker_peak_rss_mb": 80.0},
              "cpu": {"busy_cores": 1.0, "cpu_s": {"workers": 0.1}}}
    floor = {"tasks": 100, "claimers": 16, "batch": 128, "seconds": 0.8, "tasks_per_s": 125.0,
             "engine_share": 0.4, "engine_share_steady": 0.8, "how": "raw"}
    single = {**load(16, 320.0), "db_per_request": {"statements": 5.0, "selects": 1.0, "inserts": 2.0, "updates": 0.0,
                                                    "commits": 1.0, "rollbacks": 0.0, "set_options": 1.0}}
    return {
        "machine": {"when": "now", "cores": 2, "cpu": "x", "memory_gb": 24, "os": "Debian", "mariadb": "10.11-x",
                    "redis": "7", "python": "3.12", "django": "6.1", "loadavg_start": [0, 0, 0]},
        "options": {"quick": False},
        "scenarios": {
            "drain": {"tasks": 100, "processes": 2, "threads": 8, "systems": [engine], "ratios": {},
                      "best_celery": None, "ratio_vs_dtdb": None, "ratio_vs_celery": None, "floor": floor,
                      "engine_share_of_floor": 0.4, "first_start_s": 1.5,
                      "startup": {"processes": 2, "ready_s": 1.2, "fork_s": 1.3, "first_claim_s": 1.45, "own_s": 0.25}},
            "enqueue": {"single": single, "single_few_clients": load(4, 200.0, p99=60.0),
                        "batch": load(4, 6000.0, per=500), "stored": 1,
                        "floors": {"health": {**load(16, 900.0), "path": "/api/health"},
                                   "enqueue_loop": {"tasks": 100, "seconds": 0.3, "tasks_per_s": 300.0, "how": "loop"},
                                   "raw_insert": {"tasks": 1000, "rows_per_statement": 500, "statements": 2,
                                                  "seconds": 0.1, "tasks_per_s": 10_000.0, "how": "insert"}},
                        "single_vs_loop": 1.067, "single_vs_health": 0.356, "batch_vs_insert": 0.6,
                        "server": "manage.py serve, 2 web processes", "web_peak_rss_mb": 100.0},
            "seed": {"seeds": 4, "per_seed": 50, "threads": 4, "published": {"1x4": 1.8, "3x4": 4.6}, "runs": [
                {"engines": 1, "threads": 4, "total_tasks": 200, "seconds": 100.0, "tasks_per_s": 2.0,
                 "seed_published_tasks_per_s": 1.8, "vs_seed": 1.11, "ceiling_tasks_per_s": 2.2,
                 "avg_execution_ms": 1800.0, "avg_queue_wait_ms": 40_000.0, "waiting_at_stop": 3}]},
        },
    }


def test_each_floor_target_reads_its_ratio_and_says_met_or_missed() -> None:
    by_name = {t["target"]: t for t in report.targets(results())}
    single = by_name["single POST /api/tasks (16 clients) vs in-process enqueue()"]
    assert (single["value"], single["met"], single["measured"]) == (1.067, True, "1.07×")
    assert by_name["single POST /api/tasks p99 at 4 clients"]["met"] is False  # 60 ms
    assert by_name["batch of 500 vs raw multi-row INSERT"]["met"] is False  # 60%
    assert by_name["worker start-up to first claim"]["met"] is True  # 0.25 s
    share = by_name["drain share of the raw claim+complete floor"]
    assert (share["met"], share["measured"]) == (False, "40%")
    assert "16 claimers × 128/claim" in share["note"] and "steady-state share 80%" in share["note"]
    assert by_name["drain vs django-tasks-db"]["met"] is None  # not run: no peer


def test_the_table_prints_each_figure_beside_its_floor() -> None:
    r = results()
    r["targets"] = report.targets(r)
    text = report.table(r)
    assert "GET /api/health (floor: the server alone)" in text
    assert "floor, in-process enqueue() loop: 300 tasks/s" in text
    assert "single POST ×16 ÷ it: 1.07×" in text
    assert "floor, raw multi-row INSERT of 500 rows: 10,000 rows/s; batch ÷ it: 60%" in text
    assert "one single POST: 5.0 statements (1.0 SELECT, 2.0 INSERT, 0.0 UPDATE, 1.0 SET), 1.0 commits" in text
    assert "engine's share of the floor: 40%" in text
    assert "1 engine × 4" in text and report.TITLES["seed"] in text


def test_the_charts_draw_the_floors_and_the_seeds_figures(tmp_path: Path) -> None:
    paths = {p.name: p for p in charts.write_svgs(results(), tmp_path)}
    assert {"drain.svg", "enqueue.svg", "enqueue-batch.svg", "seed.svg"} <= set(paths)
    for path in paths.values():
        assert ET.parse(path).getroot().tag.endswith("svg")  # noqa: S314 — our own file
    assert "floor: raw SQL claim+complete (16)" in paths["drain.svg"].read_text()
    assert "floor: raw INSERT of 500 rows" in paths["enqueue-batch.svg"].read_text()
    seed = paths["seed.svg"].read_text()
    assert "the seed, 1 × 4 (published)" in seed and "1.80 tasks/s" in seed


def test_statements_per_request_divides_each_counter_and_is_null_without_counters() -> None:
    before = {"Questions": 10, "Com_select": 2, "Com_insert": 0, "Com_update": 0, "Com_commit": 0,
              "Com_rollback": 0, "Com_set_option": 0}
    after = {"Questions": 60, "Com_select": 12, "Com_insert": 20, "Com_update": 0, "Com_commit": 10,
             "Com_rollback": 0, "Com_set_option": 5}
    assert statements_per_request(before, after, 10) == {
        "statements": 5.0, "selects": 1.0, "inserts": 2.0, "updates": 0.0, "commits": 1.0, "rollbacks": 0.0,
        "set_options": 0.5}
    assert statements_per_request(None, None, 10) is None
