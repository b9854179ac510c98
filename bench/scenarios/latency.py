"""3. pickup latency: a steady low rate of single enqueues into an idle engine; enqueue → start.

"Start" is the task's ``started_at``, written when a worker claims it and hands it to a
free executor thread; "enqueue" is its ``created_at``, taken before the INSERT commits.
"""

import time
from typing import Any

from ..runtime import Bench, BenchError, latency_summary, running
from ..systems import engine_completed, start_engine
from ..trickle import paced_enqueue, queue_waits_ms


def run(bench: Bench) -> dict[str, Any]:
    o = bench.options
    tenant = bench.tenant("bench")
    t0 = time.monotonic()
    proc = start_engine(bench, processes=o.processes, threads=o.threads, label="idle")
    ready = time.monotonic() - t0
    with running(bench, proc):
        feed = paced_enqueue(bench, tenant, o.latency_tasks, o.rate, label=f"enqueue at {o.rate:g}/s")
        deadline = time.monotonic() + 60
        while engine_completed() < o.latency_tasks:
            if time.monotonic() > deadline:
                raise BenchError(f"latency: {engine_completed()}/{o.latency_tasks} done 60s after the last enqueue")
            time.sleep(0.05)
        t1 = time.monotonic()
    stopped = time.monotonic() - t1
    waits = queue_waits_ms()
    if len(waits) != o.latency_tasks:
        raise BenchError(f"latency: {len(waits)} tasks started, expected {o.latency_tasks}")
    return {"processes": o.processes, "threads": o.threads, **feed, "pickup": latency_summary(waits),
            "workers_ready_s": round(ready, 2), "workers_stop_s": round(stopped, 2)}
