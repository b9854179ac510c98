"""The benchmark's bounded smoke run (``python -m bench --quick``): every scenario produced its figures.

The smoke run is every scenario, every system, a few hundred tasks, against the MariaDB and Redis
servers the benchmark starts itself. It asserts that each scenario produced its figures and that
every count is right; it asserts no speed. It needs MariaDB, Redis and the peers
(requirements-bench.txt), so it runs in the MariaDB pass only.
"""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import pytest

from bench import report
from bench.options import SCENARIOS, Options
from tests.support import ROOT

pytestmark = [pytest.mark.mariadb, pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench")
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "SQLITE_PATH", "TEST_DB_SOCKET", "TEST_DB_NAME"}}
    env["DJANGO_SETTINGS_MODULE"] = "engine_site.settings"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(out / "results.json"),
         "--svg-dir", str(out / "svg")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=480, check=False,
    )
    assert proc.returncode == 0, f"bench --quick failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    results = json.loads((out / "results.json").read_text())
    return {"results": results, "stdout": proc.stdout, "svg": out / "svg"}


def scenario(smoke: dict[str, Any], name: str) -> dict[str, Any]:
    data = smoke["results"]["scenarios"][name]
    assert "error" not in data, data["error"]
    return data


quick = Options.sized(quick=True)


def assert_drained(run: dict[str, Any], n: int) -> None:
    assert run["tasks"] == n
    assert run["completed"] == n, run
    assert run["exact"] is True
    assert run["seconds"] > 0
    assert run["tasks_per_s"] > 0
    assert run["memory"]["worker_peak_rss_mb"] > 0
    assert run["cpu"]["cpu_s"]["workers"] > 0


def test_drain_runs_every_system_on_the_same_servers(smoke: dict[str, Any]) -> None:
    data = scenario(smoke, "drain")
    systems = {s["system"]: s for s in data["systems"]}
    assert list(systems) == ["engine", "django-tasks-db", "celery-prefork", "celery-threads"]
    for run in systems.values():
        assert_drained(run, quick.tasks)
        assert run["processes"] == quick.processes
    assert systems["engine"]["burst_exit_s"] >= systems["engine"]["seconds"]
    assert set(data["ratios"]) == {"django-tasks-db", "celery-prefork", "celery-threads"}
    assert data["ratio_vs_dtdb"] > 0
    assert data["ratio_vs_celery"] > 0
    assert data["best_celery"] in {"celery-prefork", "celery-threads"}
    for name in ("engine", "django-tasks-db"):  # both write started_at; Celery keeps no such row
        assert 0 < systems[name]["first_start_s"] <= systems[name]["first_done_s"] + 0.05, systems[name]
    assert data["first_start_s"] == systems["engine"]["first_start_s"]
    startup = data["startup"]  # every worker process's startup: line, the earliest claim taken
    assert startup["processes"] == quick.processes
    assert 0 < startup["ready_s"] <= startup["fork_s"] <= startup["first_claim_s"]
    assert startup["own_s"] == pytest.approx(startup["first_claim_s"] - startup["ready_s"])


def test_drain_stands_beside_its_raw_claim_and_complete_floor(smoke: dict[str, Any]) -> None:
    data = scenario(smoke, "drain")
    floor, engine = data["floor"], data["systems"][0]
    assert floor["tasks"] == quick.tasks  # every row claimed and completed (counted in the database)
    assert floor["claimers"] == quick.processes * quick.threads
    assert floor["batch"] == quick.threads * 16  # the pool's threads plus its prefetch (15 a thread)
    assert floor["seconds"] > 0
    assert floor["tasks_per_s"] == pytest.approx(quick.tasks / floor["seconds"], rel=0.01)
    assert floor["engine_share"] == round(floor["seconds"] / engine["seconds"], 3)
    assert data["engine_share_of_floor"] == floor["engine_share"]
    assert floor["engine_share_steady"] > floor["engine_share"]  # start-up left out


def test_enqueue_over_http_stores_every_acknowledged_task(smoke: dict[str, Any]) -> None:
    data = scenario(smoke, "enqueue")
    assert data["single"]["created"] == quick.requests
    assert data["single"]["statuses"] == {"201": quick.requests}
    assert data["batch"]["created"] == quick.batches * quick.batch_size
    assert data["batch"]["statuses"] == {"201": quick.batches}
    # The warm-up, the single POSTs by C and by 4 clients, the batches; then the in-process loop's
    # tasks and the raw INSERT's rows (as many as the batches').
    assert data["stored"] == 20 + 3 * quick.requests + 2 * quick.batches * quick.batch_size
    assert data["single_few_clients"]["concurrency"] == 4
    assert data["single_few_clients"]["statuses"] == {"201": quick.requests}
    for kind in ("single", "single_few_clients", "batch"):
        assert data[kind]["tasks_per_s"] > 0
        assert data[kind]["latency"]["p95_ms"] > 0
    # Beside the floors, measured in the same run: the stored count above includes their rows.
    floors = data["floors"]
    assert floors["health"]["statuses"] == {"200": quick.requests}
    assert floors["health"]["concurrency"] == data["single"]["concurrency"] == quick.clients
    assert floors["enqueue_loop"]["tasks"] == quick.requests
    assert floors["raw_insert"]["tasks"] == quick.batches * quick.batch_size
    assert floors["raw_insert"]["statements"] == quick.batches
    for floor in (floors["enqueue_loop"], floors["raw_insert"]):
        assert floor["tasks_per_s"] > 0
    assert floors["health"]["requests_per_s"] > 0
    assert data["single_vs_loop"] == round(data["single"]["tasks_per_s"] / floors["enqueue_loop"]["tasks_per_s"], 3)
    assert data["batch_vs_insert"] == round(data["batch"]["tasks_per_s"] / floors["raw_insert"]["tasks_per_s"], 3)
    assert data["single_vs_health"] == round(data["single"]["requests_per_s"] / floors["health"]["requests_per_s"], 3)
    db = data["single"]["db_per_request"]  # MariaDB's counters around the single-POST load
    assert db["inserts"] >= 1 and db["commits"] >= 1  # the task row, in a transaction of its own
    assert db["statements"] >= db["selects"] + db["inserts"] + db["updates"] + db["commits"]


def test_pickup_latency_measures_every_task(smoke: dict[str, Any]) -> None:
    data = scenario(smoke, "latency")
    pickup = data["pickup"]
    assert pickup["n"] == quick.latency_tasks
    assert 0 <= pickup["p50_ms"] <= pickup["p95_ms"] <= pickup["p99_ms"] <= pickup["max_ms"]
    assert data["rate"] == quick.rate
    assert data["enqueue_call"]["n"] == quick.latency_tasks


def test_scaling_drains_with_one_two_and_three_processes(smoke: dict[str, Any]) -> None:
    data = scenario(smoke, "scaling")
    assert [r["processes"] for r in data["runs"]] == [1, 2, 3]
    for run in data["runs"]:
        assert_drained(run, quick.tasks)
        assert run["memory"]["worker_processes"] == run["processes"]
        assert "CPU-bound" in run["bound"]


def test_fairness_measures_the_quiet_tenant_and_the_weighted_shares(smoke: dict[str, Any]) -> None:
    data = scenario(smoke, "fairness")
    assert data["quiet_alone"]["quiet_wait"]["n"] == quick.quiet
    assert data["quiet_behind_noisy"]["quiet_wait"]["n"] == quick.quiet
    assert data["quiet_behind_noisy"]["noisy_backlog"] == quick.noisy
    assert data["p95_ratio"] > 0
    weighted = data["weighted"]
    assert weighted["tasks_per_tenant"] == quick.noisy // 2
    started = weighted["started_in_window"]
    assert all(0 < n <= quick.noisy // 2 for n in started.values())
    assert quick.noisy // 2 in started.values()  # the window ends when one tenant's last task starts
    assert 0.5 <= weighted["jain_index"] <= 1.0


def test_big_table_claims_and_reads(smoke: dict[str, Any]) -> None:
    data = scenario(smoke, "bigtable")
    assert data["rows"] == quick.rows
    assert_drained(data["drain_empty"], quick.tasks)
    assert_drained(data["drain_big"], quick.tasks)
    for claims in (data["claims_empty"], data["claims_big"]):
        assert claims["tasks"] == quick.tasks
        assert claims["tasks_per_s"] > 0
    assert data["drain_ratio"] > 0 and data["claim_ratio"] > 0
    endpoints = {r["endpoint"]: r for r in data["reads"]}
    for name in ("GET /api/tasks", "GET /api/tasks?status=failed", "GET /api/tasks?cursor=", "GET /api/analytics",
                 "GET /api/analytics/throughput", "GET /api/analytics/types", "console overview /"):
        assert endpoints[name]["statuses"] == {"200": quick.samples}, name
        assert endpoints[name]["p95_ms"] > 0
    assert data["worst_p95_ms"] == max(r["p95_ms"] for r in data["reads"])


def test_memory_reports_worker_and_web_peaks(smoke: dict[str, Any]) -> None:
    data = scenario(smoke, "memory")
    assert data["worker_processes"] == quick.processes
    assert data["worker_peak_rss_mb"] > 10
    assert data["supervisor_peak_rss_mb"] > 10
    assert data["web_peak_rss_mb"] >= data["web_rss_at_start_mb"] > 10


def test_the_seeds_protocol_runs_on_one_and_three_engines(smoke: dict[str, Any]) -> None:
    data = scenario(smoke, "seed")
    assert [(r["engines"], r["threads"]) for r in data["runs"]] == [(1, quick.seed_threads), (3, quick.seed_threads)]
    for run in data["runs"]:
        counts = run["status_counts"]
        assert run["total_tasks"] == 50 * quick.seeds == sum(counts.values())
        assert counts["pending"] == counts["running"] == 0  # the seed tool's stop condition
        assert run["finished_at_stop"] + run["waiting_at_stop"] == run["total_tasks"]
        assert run["finished_at_stop"] > 0
        assert run["tasks_per_s"] == pytest.approx(run["total_tasks"] / run["seconds"], rel=0.01)
        assert run["avg_execution_ms"] >= 500  # the simulated handlers sleep 0.5–3 s
        assert run["avg_queue_wait_ms"] >= 0
        assert run["ceiling_tasks_per_s"] == round(run["engines"] * run["threads"] * 1000 / run["avg_execution_ms"], 2)
    assert data["published"] == {"1x4": 1.8, "3x4": 4.6}


def test_the_run_prints_the_table_the_targets_and_draws_the_charts(smoke: dict[str, Any]) -> None:
    results, stdout = smoke["results"], smoke["stdout"]
    assert list(results["scenarios"]) == list(SCENARIOS)
    assert results["machine"]["cores"] and results["machine"]["mariadb"] and results["machine"]["redis"]
    for title in report.TITLES.values():
        assert title in stdout
    assert "Targets" in stdout
    assert [t["target"] for t in results["targets"]] == [t["target"] for t in report.targets(results)]
    assert all(t["measured"] is not None for t in results["targets"]), results["targets"]
    for name in (*SCENARIOS, "enqueue-batch", "drain-cpu"):
        svg = smoke["svg"] / f"{name}.svg"
        assert ET.parse(svg).getroot().tag.endswith("svg"), name  # noqa: S314 — our own file
    enqueue = (smoke["svg"] / "enqueue.svg").read_text()
    assert "floor: in-process enqueue() loop" in enqueue and "floor: GET /api/health" in enqueue
    assert "floor: raw INSERT" in (smoke["svg"] / "enqueue-batch.svg").read_text()
    assert "floor: raw SQL claim+complete" in (smoke["svg"] / "drain.svg").read_text()
    assert "floor, in-process enqueue() loop" in stdout and "floor, raw SQL claim + complete" in stdout


def test_the_targets_are_the_issues_ratios_of_the_same_run(smoke: dict[str, Any]) -> None:
    results = smoke["results"]
    found = {t["target"].split(" (")[0]: t for t in results["targets"]}
    enqueue, drain = results["scenarios"]["enqueue"], results["scenarios"]["drain"]
    expect: dict[str, tuple[float, Callable[[float], bool]]] = {
        "single POST /api/tasks": (enqueue["single_vs_loop"], lambda v: v >= 1.0),
        "single POST /api/tasks p99 at 4 clients": (enqueue["single_few_clients"]["latency"]["p99_ms"],
                                                    lambda v: v <= 50),
        "batch of 500 vs raw multi-row INSERT": (enqueue["batch_vs_insert"], lambda v: v >= 0.7),
        "drain vs django-tasks-db": (drain["ratio_vs_dtdb"], lambda v: v >= 10),
        "worker start-up to first claim": (drain["startup"]["own_s"], lambda v: v < 0.3),
        "drain share of the raw claim+complete floor": (drain["engine_share_of_floor"], lambda v: v >= 0.5),
    }
    for name, (value, goal) in expect.items():
        assert found[name]["value"] == value, name
        assert found[name]["met"] is goal(value), name
