"""8. the seed's load-test protocol, unchanged, against our server in demo mode with an operator key.

What the seed's tool does (docs/BENCHMARKS.md): ``POST /api/demo/clear``, ``POST /api/demo/seed`` × N
(50 simulated tasks each: sleep 0.5–3 s, fail 20%), then poll ``GET /api/analytics?all=true`` until
``total_tasks ≥ 50·N`` and ``status_counts.pending + status_counts.running == 0``; throughput is
``total_tasks`` over that time, printed with ``avg_execution_ms`` and ``avg_queue_wait_ms``. Its header
is the lower-case ``x-api-key``. Run on 1 engine × 4 worker threads and on 3 engines × 4 (three
``runworkers`` supervisors, one process each, as the seed's three instances), beside the seed's
published 1.8 and 4.6 tasks/s. Handler-bound: the figure to read beside each is the ceiling, slots ÷
the average execution time.

The seed's stop condition ignores ``scheduled``: a failed run here backs off before its retry (the
seed's went straight back to ``pending``), so the tool may stop with retries still waiting; how
many is reported (``waiting_at_stop``).
"""

import os
import signal
import subprocess
import time
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

import httpx

from ..runtime import Bench, BenchError, running
from ..systems import await_registered
from ..web import start_web

PER_SEED = 50
#: The seed's published figures, tasks/s (engines, threads each → tasks/s).
PUBLISHED = {(1, 4): 1.8, (3, 4): 4.6}
#: Within the operator key's read budget (analytics cost 5 of 1,200 a minute), as the seed's tool polls.
POLL_SECONDS = 0.5


def spawn_engines(bench: Bench, engines: int, threads: int) -> tuple[list[Any], datetime]:
    """``engines`` supervisors of one process × ``threads`` each (an instance id each, as the seed's)."""
    spawned = datetime.now(UTC)
    return [bench.manage(f"runworkers-seed-{i}", "runworkers", "--processes", "1", "--threads", str(threads),
                         env={"INSTANCE_ID": f"seed-{i}"}) for i in range(engines)], spawned


def stop_engines(bench: Bench, procs: list[Any]) -> float:
    """Stop every supervisor at once (each drains its running handlers, seconds long); seconds taken."""
    start = time.monotonic()
    for proc in procs:
        if proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            bench.stop(proc, sig=signal.SIGKILL)
    return round(time.monotonic() - start, 2)


def analytics(client: httpx.Client) -> dict[str, Any]:
    response = client.get("/api/analytics", params={"all": "true"})
    if response.status_code != 200:
        raise BenchError(f"seed: GET /api/analytics?all=true answered {response.status_code}: {response.text[:300]}")
    body: dict[str, Any] = response.json()
    return body


def protocol(client: httpx.Client, seeds: int, *, timeout: float) -> dict[str, Any]:
    """The seed tool's steps; its throughput, and what the last poll said."""
    cleared = client.post("/api/demo/clear")
    if cleared.status_code != 200:
        raise BenchError(f"seed: POST /api/demo/clear answered {cleared.status_code}: {cleared.text[:300]}")
    start = time.monotonic()
    for _ in range(seeds):
        seeded = client.post("/api/demo/seed")
        if seeded.status_code != 201 or seeded.json().get("created") != PER_SEED:
            raise BenchError(f"seed: POST /api/demo/seed answered {seeded.status_code}: {seeded.text[:300]}")
    want, polls = PER_SEED * seeds, 0
    while True:
        body = analytics(client)
        polls += 1
        counts = body["status_counts"]
        if body["total_tasks"] >= want and counts["pending"] + counts["running"] == 0:
            break
        if time.monotonic() - start > timeout:
            raise BenchError(f"seed: after {timeout:.0f}s total_tasks={body['total_tasks']}, status_counts={counts}")
        time.sleep(POLL_SECONDS)
    elapsed = time.monotonic() - start
    return {
        "seconds": round(elapsed, 2),
        "polls": polls,
        "total_tasks": body["total_tasks"],
        "tasks_per_s": round(body["total_tasks"] / elapsed, 2),
        "avg_execution_ms": body["avg_execution_ms"],
        "avg_queue_wait_ms": body["avg_queue_wait_ms"],
        "status_counts": counts,
        "finished_at_stop": sum(counts[s] for s in ("completed", "failed", "cancelled")),
        "waiting_at_stop": sum(counts[s] for s in ("scheduled", "blocked")),
    }


def run(bench: Bench) -> dict[str, Any]:
    from tenants import keys

    o = bench.options
    tenant = bench.tenant("seed-ops")
    _, raw = keys.issue(tenant, name="seed load tool", operator=True)
    runs = []
    with bench.environment(JOBS_DEMO_MODE="1"):
        # The first engine starts while the web server does (its "engines_started_s" includes the
        # server's start-up): the smoke run's wall time, not a figure.
        begun = time.monotonic()
        workers, spawned = spawn_engines(bench, 1, o.seed_threads)
        try:
            proc, url = start_web(bench)
        except BaseException:
            stop_engines(bench, workers)
            raise
        with running(bench, proc), httpx.Client(base_url=url, headers={"x-api-key": raw}, timeout=60) as client:
            for engines in (1, 3):
                if engines > 1:
                    begun = time.monotonic()
                    workers, spawned = spawn_engines(bench, engines, o.seed_threads)
                try:
                    await_registered(bench, workers, len(workers), since=spawned)
                    started = time.monotonic()
                    # Each slot runs ~1.75 s a task, ~1.25 runs a task (20% fail, retried): 4× that is ample.
                    timeout = 60 + 4 * 2.2 * PER_SEED * o.seeds / (engines * o.seed_threads)
                    result = protocol(client, o.seeds, timeout=timeout)
                finally:
                    stopped_s = stop_engines(bench, workers)
                slots = engines * o.seed_threads
                avg = result["avg_execution_ms"]
                published = PUBLISHED.get((engines, o.seed_threads))
                runs.append({
                    "engines": engines, "threads": o.seed_threads, "seeds": o.seeds, **result,
                    "engines_started_s": round(started - begun, 2), "engines_stopped_s": stopped_s,
                    "ceiling_tasks_per_s": round(slots * 1000 / avg, 2) if avg else None,
                    "seed_published_tasks_per_s": published,
                    "vs_seed": round(result["tasks_per_s"] / published, 2) if published else None,
                })
    return {"seeds": o.seeds, "per_seed": PER_SEED, "threads": o.seed_threads, "runs": runs,
            "published": {f"{e}x{t}": v for (e, t), v in PUBLISHED.items()}}
