"""2. enqueue over HTTP through the real ASGI server (daphne): single ``POST /api/tasks`` by C
concurrent clients, and ``POST /api/tasks/batch`` of 500."""

from typing import Any

from ..memory import MemoryWatch
from ..runtime import Bench, BenchError, running
from ..web import post_load, start_daphne

BATCH_CONCURRENCY = 4


def run(bench: Bench) -> dict[str, Any]:
    from jobs.models import Task
    from tenants import keys

    o = bench.options
    tenant = bench.tenant("bench")
    _, raw = keys.issue(tenant, name="bench")
    proc, url = start_daphne(bench)
    memory = MemoryWatch()
    with running(bench, proc):
        warm = post_load(bench, url, raw, path="/api/tasks", requests=20, body={"type": "noop"},
                         concurrency=2, per_body=1, label="warm-up")
        single = post_load(bench, url, raw, path="/api/tasks", requests=o.requests, body={"type": "noop"},
                           concurrency=o.clients, per_body=1, label=f"POST /api/tasks ×{o.clients}")
        memory.sample([proc], solo=True)
        batch = post_load(bench, url, raw, path="/api/tasks/batch", requests=o.batches,
                          body={"tasks": [{"type": "noop"}] * o.batch_size},
                          concurrency=min(BATCH_CONCURRENCY, o.batches), per_body=o.batch_size,
                          label=f"POST /api/tasks/batch of {o.batch_size}")
        memory.sample([proc], solo=True)
    expected = warm["created"] + single["created"] + batch["created"]
    stored = Task.objects.count()
    if stored != expected or single["created"] != o.requests or batch["created"] != o.batches * o.batch_size:
        raise BenchError(f"enqueue: {stored} tasks stored, {expected} acknowledged; statuses "
                         f"single={single['statuses']} batch={batch['statuses']}")
    return {"single": single, "batch": batch, "stored": stored, "server": "daphne, 1 process",
            "web_peak_rss_mb": memory.summary()["worker_peak_rss_mb"]}
