"""2. enqueue over HTTP through the web server: single ``POST /api/tasks`` by C concurrent clients (and by
4, for the latency target), and ``POST /api/tasks/batch`` of 500; each beside its floor, measured in the
same run (``bench.floors``): ``GET /api/health`` by the same C clients, one thread calling ``enqueue()``
in a loop, and the batch's rows as bare multi-row INSERTs. MariaDB's counters around the single-POST
load give the statements and commits of one enqueue over HTTP.
"""

from typing import Any

from ..floors import db_counters, enqueue_loop, get_load, raw_insert, statements_per_request
from ..memory import MemoryWatch
from ..runtime import Bench, BenchError, running
from ..web import WEB_WORKERS, post_load, start_web

BATCH_CONCURRENCY = 4
#: The latency target's load: "at 4 clients, p99 ≤ 50 ms".
FEW_CLIENTS = 4


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def run(bench: Bench) -> dict[str, Any]:
    from jobs.models import Task
    from tenants import keys

    o = bench.options
    tenant = bench.tenant("bench")
    _, raw = keys.issue(tenant, name="bench")
    proc, url = start_web(bench)
    memory = MemoryWatch()
    noop = {"type": "noop"}
    with running(bench, proc):
        warm = post_load(bench, url, raw, path="/api/tasks", requests=20, body=noop,
                         concurrency=2, per_body=1, label="warm-up")
        health = get_load(bench, url, path="/api/health", requests=o.requests, concurrency=o.clients)
        before = db_counters(bench)
        single = post_load(bench, url, raw, path="/api/tasks", requests=o.requests, body=noop,
                           concurrency=o.clients, per_body=1, label=f"POST /api/tasks ×{o.clients}")
        single["db_per_request"] = statements_per_request(before, db_counters(bench), o.requests)
        memory.sample([proc], solo=True)
        few = post_load(bench, url, raw, path="/api/tasks", requests=o.requests, body=noop,
                        concurrency=FEW_CLIENTS, per_body=1, label=f"POST /api/tasks ×{FEW_CLIENTS}")
        batch = post_load(bench, url, raw, path="/api/tasks/batch", requests=o.batches,
                          body={"tasks": [noop] * o.batch_size},
                          concurrency=min(BATCH_CONCURRENCY, o.batches), per_body=o.batch_size,
                          label=f"POST /api/tasks/batch of {o.batch_size}")
        memory.sample([proc], solo=True)
    # The floors run with the server stopped: nothing else on the machine's two cores.
    loop = enqueue_loop(bench, tenant, o.requests)
    insert = raw_insert(bench, tenant, o.batches * o.batch_size, o.batch_size)
    acknowledged = warm["created"] + single["created"] + few["created"] + batch["created"]
    expected = acknowledged + loop["tasks"] + insert["tasks"]
    stored = Task.objects.count()
    if (stored != expected or single["created"] != o.requests or few["created"] != o.requests
            or batch["created"] != o.batches * o.batch_size or health["statuses"] != {"200": o.requests}):
        raise BenchError(f"enqueue: {stored} tasks stored, {expected} expected; statuses single={single['statuses']} "
                         f"×{FEW_CLIENTS}={few['statuses']} batch={batch['statuses']} health={health['statuses']}")
    return {
        "single": single, "single_few_clients": few, "batch": batch, "stored": stored,
        "floors": {"health": health, "enqueue_loop": loop, "raw_insert": insert},
        "single_vs_loop": _ratio(single["tasks_per_s"], loop["tasks_per_s"]),
        "single_vs_health": _ratio(single["requests_per_s"], health["requests_per_s"]),
        "batch_vs_insert": _ratio(batch["tasks_per_s"], insert["tasks_per_s"]),
        "server": f"manage.py serve, {WEB_WORKERS} web processes",
        "web_peak_rss_mb": memory.summary()["worker_peak_rss_mb"],
    }
