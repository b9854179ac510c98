"""The local production topology (deploy/topology/): nginx, three web instances, three worker supervisors.

One topology serves the module (its own MariaDB and Redis from deploy/servers.py, not the
suite's). The engine processes run ``engine_site.settings`` with ``PRODUCTION=1`` and the
tests' short timings (4 s leases, 1 s heartbeats), so a killed instance is noticed in seconds.
"""

import json
import os
import re
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from deploy import procs
from deploy.topology import FAST_TIMINGS, Topology, http_request
from jobs.conf import conf
from tests.support.sse import Stream
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.mariadb, pytest.mark.slow]

LEASE = float(FAST_TIMINGS["JOBS_LEASE_SECONDS"])
INSTANCES = {"worker1", "worker2", "worker3"}


@pytest.fixture(scope="module")
def topo() -> Iterator[Topology]:
    with Topology(webs=3, workers=3, processes=1, threads=4, timings=FAST_TIMINGS, tenant="acme") as topology:
        yield topology


def submit(topo: Topology, n: int, seconds: float, tag: str) -> list[int]:
    specs = [{"type": "sleep", "payload": {"seconds": seconds}, "idempotency_key": f"{tag}-{i}"} for i in range(n)]
    status, _, body = topo.api("POST", "/api/tasks/batch", {"tasks": specs})
    assert status == 201, body
    return list(body["ids"])


def rows(topo: Topology, ids: list[int]) -> dict[int, tuple[Any, ...]]:
    marks = ",".join(["%s"] * len(ids))
    found = topo.query(f"SELECT id, status, worker, errors FROM jobs_task WHERE id IN ({marks})", ids)  # noqa: S608
    return {int(r[0]): r for r in found}


def all_completed(topo: Topology, ids: list[int]) -> bool:
    return all(r[1] == "completed" for r in rows(topo, ids).values()) and len(rows(topo, ids)) == len(ids)


def instance_of(worker_id: str) -> str:
    return worker_id.split(":", 1)[0]


def test_everything_is_up_behind_nginx_with_production_settings(topo: Topology) -> None:
    where = topo.describe()
    for name in ("nginx", "web1", "web2", "web3", "worker1", "worker2", "worker3", "MariaDB", "Redis"):
        assert name in where
    assert topo.url in where and topo.api_key in where

    status, _, body = topo.api("GET", "/api/health/ready")
    assert status == 200 and body == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}
    for web in topo.webs:
        assert http_request(web.port or 0, "GET", "/api/health")[0] == 200, web.name

    # Static files through nginx (WhiteNoise in every instance), DEBUG off (no technical 404 page).
    status, headers, css = http_request(topo.nginx_port, "GET", "/static/dashboard/console.css")
    assert status == 200 and headers["content-type"].startswith("text/css") and css
    status, _, page = http_request(topo.nginx_port, "GET", "/no/such/page")
    assert status == 404 and b"URLconf" not in page

    # Prometheus scrapes a web instance directly, with the token; nginx does not serve /metrics at all.
    scrape = {"Authorization": f"Bearer {topo.metrics_token}"}
    status, headers, metrics = http_request(topo.web(1).port or 0, "GET", "/metrics", headers=scrape)
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    for instance in INSTANCES:
        assert f'jobs_worker_processes{{instance="{instance}"}} 1' in metrics.decode()
    assert http_request(topo.web(1).port or 0, "GET", "/metrics")[0] == 401
    for path in ("/metrics", "/metrics/", "//metrics?x=1"):
        status, _, refused = http_request(topo.nginx_port, "GET", path, headers=scrape)
        assert status == 404 and b"jobs_" not in refused, path

    # Structured logs: every line a worker writes is JSON carrying its instance id.
    for proc in [*topo.workers, *topo.webs]:
        entries = [json.loads(line) for line in proc.log.read_text().splitlines() if line.startswith("{")]
        assert entries and {e["instance"] for e in entries} == {proc.name}, proc.name
    for worker in topo.workers:
        assert all(line.startswith("{") for line in worker.log.read_text().splitlines() if line), worker.name


def test_tasks_submitted_through_nginx_are_run_by_workers_of_every_instance(topo: Topology) -> None:
    ids = submit(topo, 120, 0.1, "spread")
    for i in range(30):  # one by one too: nginx spreads them over the web instances
        status, _, body = topo.api("POST", "/api/tasks", {"type": "noop", "idempotency_key": f"single-{i}"})
        assert status == 201, body
        ids.append(body["id"])
    wait_for(lambda: all_completed(topo, ids), timeout=120, interval=0.5, what="the 150 tasks")
    workers = {instance_of(r[2]) for r in rows(topo, ids).values()}
    assert workers == INSTANCES, f"tasks ran on {workers}"
    for web in topo.webs:
        assert re.search(r'"POST /api/tasks(/batch)?" 20[01]', web.log.read_text()), f"{web.name} served no POST"


def test_an_sse_client_through_nginx_receives_events_of_tasks_run_on_every_instance(topo: Topology) -> None:
    stream = Stream(topo.nginx_port, "/api/sse/events", topo.auth)
    try:
        stream.wait(lambda s: s.status is not None, timeout=30, what="the stream's response")
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        stream.wait(lambda s: any(m.id is not None for m in s.snapshot()), what="the opening id:")
        # More than two instances can hold at once: a process whose recent runs were fast (the noops
        # above) claims threads + a prefetch of PREFETCH_PER_THREAD per thread in one go.
        per_instance = 4 * (1 + conf().PREFETCH_PER_THREAD)  # the same default in the topology
        ids = set(submit(topo, 2 * per_instance + 30, 0.2, "sse"))

        def completed(s: Stream) -> bool:
            return {c["task"] for _, _, c in s.changes() if c["event"] == "task.completed"} >= ids

        stream.wait(completed, timeout=120, what="task.completed for every task through nginx")
        started = {instance_of(c["worker"]) for _, _, c in stream.changes()
                   if c["event"] == "task.started" and c["task"] in ids}
        assert started == INSTANCES, f"task.started events came from {started}"
        assert {t for _, t, _ in stream.changes()} == {"acme"}
    finally:
        stream.close()


def test_workers_lists_every_instance_and_drops_one_killed_with_9_whose_tasks_the_others_rescue(
        topo: Topology) -> None:
    status, _, body = topo.api("GET", "/api/workers?all=true")
    assert status == 200
    listed = body["processes"]
    assert {p["instance"] for p in listed} == INSTANCES
    assert all(len(p["slots"]) == 4 for p in listed)
    victim = topo.worker(3)
    children = [p["pid"] for p in listed if p["instance"] == "worker3"]

    ids = submit(topo, 36, 3.0, "doomed")  # 12 slots: every instance holds some
    held: list[int] = wait_for(
        lambda: [int(r[0]) for r in topo.query(
            # Started (recorded): a run killed before its start is recorded is handed back uncharged.
            "SELECT id FROM jobs_task WHERE status = 'running' AND worker LIKE 'worker3:%%'"
            " AND started_at IS NOT NULL")],
        timeout=60, interval=0.1, what="worker3 to hold running tasks")
    killed_at = time.monotonic()
    topo.kill_worker(3)  # the supervisor and its children: the whole process group
    assert not victim.alive
    def gone(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    # SIGKILL is delivered asynchronously: wait for the kernel to finish every process off.
    wait_for(lambda: all(gone(pid or 0) for pid in [victim.pid, *children]), timeout=10, interval=0.05,
             what="the killed processes to be gone")

    wait_for(lambda: "worker3" not in topo.worker_instances(), timeout=60, interval=0.1,
             what="/api/workers to drop worker3")
    dropped = time.monotonic() - killed_at
    # Dropped once its last heartbeat is older than the lease: within LEASE (+ polling and load).
    assert dropped <= LEASE + 6, f"worker3 was listed for {dropped:.1f} s after kill -9"
    assert topo.worker_instances() == INSTANCES - {"worker3"}

    wait_for(lambda: all_completed(topo, ids), timeout=180, interval=0.5, what="every task, rescued ones included")
    final = rows(topo, ids)
    for task_id in held:
        _, status, worker, errors = final[task_id]
        errors = json.loads(errors)
        assert errors and errors[0]["type"] == "WorkerLost" and errors[0]["worker"].startswith("worker3:"), errors
        assert instance_of(worker) in {"worker1", "worker2"}, f"task {task_id} finished on {worker}"
    rescued = {t for t, r in final.items() if any(e["type"] == "WorkerLost" for e in json.loads(r[3]))}
    assert set(held) <= rescued, "worker3's started tasks were rescued as lost runs"
    assert all(json.loads(final[t][3])[0]["worker"].startswith("worker3:") for t in rescued), "and only worker3's"

    topo.restart_worker(3)
    assert topo.worker_instances() == INSTANCES


def test_python_m_deploy_topology_starts_prints_and_stops_everything_on_sigterm(tmp_path: Path) -> None:
    port = procs.free_port()
    out = tmp_path / "topology.out"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env["DJANGO_SETTINGS_MODULE"] = "engine_site.settings"
    proc = procs.spawn([sys.executable, "-m", "deploy.topology", "--webs", "1", "--workers", "1", "--fast",
                        "--port", str(port)], env=env, log=out)
    try:
        wait_for(lambda: "Ctrl-C" in out.read_text() or proc.poll() is not None, timeout=240, interval=0.5,
                 what="python -m deploy.topology to print where everything is")
        text = out.read_text()
        assert proc.poll() is None, text
        assert f"http://127.0.0.1:{port}/" in text
        pids = [int(p) for p in re.findall(r"pid (\d+)", text)]
        assert len(pids) == 4, text  # web1, worker1, MariaDB, Redis
        workdir = Path(re.search(r"work dir\s+(\S+)", text).group(1))  # type: ignore[union-attr]
        assert workdir.is_dir()
        key = re.search(r"operator API key (\S+)", text).group(1)  # type: ignore[union-attr]
        assert http_request(port, "GET", "/api/health/ready")[0] == 200
        status, _, body = http_request(port, "POST", "/api/tasks", {"type": "noop"}, {"X-API-Key": key})
        assert status == 201, body
        task = json.loads(body)["id"]
        wait_for(lambda: json.loads(http_request(port, "GET", f"/api/tasks/{task}", headers={"X-API-Key": key})[2])
                 ["status"] == "completed", timeout=60, what="the task to run")

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0, out.read_text()
    finally:
        procs.stop(proc, timeout=120)  # after a failed assertion: still stop what it started
    text = out.read_text()
    assert "topology: stopped" in text, text
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, pid
    with pytest.raises(OSError):
        http_request(port, "GET", "/api/health", timeout=2)
    assert not workdir.exists()
