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


def test_enqueue_over_http_stores_every_acknowledged_task(smoke: dict[str, Any]) -> None:
    data = scenario(smoke, "enqueue")
    assert data["single"]["created"] == quick.requests
    assert data["single"]["statuses"] == {"201": quick.requests}
    assert data["batch"]["created"] == quick.batches * quick.batch_size
    assert data["batch"]["statuses"] == {"201": quick.batches}
    assert data["stored"] == 20 + quick.requests + quick.batches * quick.batch_size  # with the warm-up
    for kind in ("single", "batch"):
        assert data[kind]["tasks_per_s"] > 0
        assert data[kind]["latency"]["p95_ms"] > 0


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


def test_the_run_prints_the_table_the_targets_and_draws_the_charts(smoke: dict[str, Any]) -> None:
    results, stdout = smoke["results"], smoke["stdout"]
    assert list(results["scenarios"]) == list(SCENARIOS)
    assert results["machine"]["cores"] and results["machine"]["mariadb"] and results["machine"]["redis"]
    for title in report.TITLES.values():
        assert title in stdout
    assert "Targets" in stdout
    assert [t["target"] for t in results["targets"]] == [t["target"] for t in report.targets(results)]
    assert all(t["measured"] is not None for t in results["targets"]), results["targets"]
    for name in SCENARIOS:
        svg = smoke["svg"] / f"{name}.svg"
        assert ET.parse(svg).getroot().tag.endswith("svg"), name  # noqa: S314 — our own file
