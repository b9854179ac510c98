"""7. memory: peak RSS (VmHWM) of a worker process while it drains N no-ops with T threads,
of its supervisor, and of the web processes (serve) serving enqueues, lists and analytics."""

from typing import Any

from ..memory import MemoryWatch
from ..runtime import Bench, BenchError, running
from ..systems import drain_engine
from ..web import get_samples, post_load, start_web


def run(bench: Bench) -> dict[str, Any]:
    from tenants import keys

    o = bench.options
    tenant = bench.tenant("bench")
    drain = drain_engine(bench, o.tasks, processes=o.processes, threads=o.threads, tenant=tenant, label="memory")
    _, raw = keys.issue(tenant, name="bench")
    proc, url = start_web(bench)
    memory = MemoryWatch()
    with running(bench, proc):
        memory.sample([proc], solo=True)
        at_start = memory.summary()["worker_peak_rss_mb"]
        post_load(bench, url, raw, path="/api/tasks", requests=max(20, o.requests // 4), body={"type": "noop"},
                  concurrency=o.clients, per_body=1, label="web: single enqueues")
        memory.sample([proc], solo=True)
        post_load(bench, url, raw, path="/api/tasks/batch", requests=max(1, o.batches // 4),
                  body={"tasks": [{"type": "noop"}] * o.batch_size}, concurrency=2, per_body=o.batch_size,
                  label="web: batch enqueues")
        memory.sample([proc], solo=True)
        for path in ("/api/tasks", "/api/tasks?page_size=100", "/api/analytics", "/api/analytics/types"):
            get_samples(url, path, samples=max(3, o.samples // 5), headers={"X-API-Key": raw})
            memory.sample([proc], solo=True)
    web = memory.summary()["worker_peak_rss_mb"]
    if drain["memory"]["worker_peak_rss_mb"] is None or web is None:
        raise BenchError("memory: could not read the processes' peak RSS")
    return {
        "tasks": o.tasks,
        "threads": o.threads,
        "worker_peak_rss_mb": drain["memory"]["worker_peak_rss_mb"],
        "worker_processes": drain["memory"]["worker_processes"],
        "supervisor_peak_rss_mb": drain["memory"]["parent_peak_rss_mb"],
        "web_rss_at_start_mb": at_start,
        "web_peak_rss_mb": web,
    }
