"""6. big table: claims and reads with 1,000,000 finished tasks in the table.

* Claim throughput: the same drain (N no-ops, P × T) on an empty table, then with the
  finished rows loaded; plus a bare claim loop (one process calling ``Task.objects.claim``
  for T tasks at a time) on both, which isolates the claim statement itself.
* Reads: p95 over sequential requests through `serve` of ``GET /api/tasks`` (page 1, a
  status filter, the keyset cursor), the analytics endpoints, and the console's pages.

The finished rows belong to the tenant the API key reads (a single-tenant deployment: the
worst case for tenant-scoped queries), finished over the last 24 hours: 97% completed,
2% failed, 1% cancelled, five types; the analytics rollups are built from them as
the workers would have written them.
"""

import json
import time
from typing import Any

from django.db import connection

from ..progress import Progress
from ..runtime import Bench, BenchError, running
from ..systems import drain_engine, enqueue_engine
from ..web import get_samples, staff_session, start_web

CHUNK = 50_000
TYPES = ("noop", "send_email", "resize_image", "generate_report", "call_webhook")
FAILURE = json.dumps([{"attempt": 4, "at": "2026-01-01T00:00:00+00:00", "type": "DemoFailure",
                       "message": "failure requested (attempt 4)", "worker": "bench-host:1:0000abcd"}])
CONSOLE_PAGES = ("dashboard:overview", "dashboard:tasks", "dashboard:task-list", "dashboard:task_list")


def _row_sql(tenant_id: int) -> tuple[str, str, list[Any]]:
    """Columns and a SELECT over MariaDB's ``seq_A_to_B`` that produces finished task rows."""
    from jobs.models import Task

    qn = connection.ops.quote_name
    types = ", ".join(f"'{t}'" for t in TYPES)
    # finished_at spread evenly over the last 24 h; 50–250 ms queued, 1–100 ms running.
    finished = "(UTC_TIMESTAMP(6) - INTERVAL (seq * 86400000000 DIV {rows}) MICROSECOND)"
    known = {
        "tenant_id": str(tenant_id),
        "queue": "'default'",
        "type": f"ELT(1 + MOD(seq, 5), {types})",
        "priority": "1 + MOD(seq, 5)",
        "payload": "'{}'",
        "status": "CASE MOD(seq, 100) WHEN 0 THEN 'failed' WHEN 1 THEN 'cancelled' ELSE 'completed' END",
        "attempts": "CASE MOD(seq, 100) WHEN 0 THEN 4 ELSE 1 END",
        "max_retries": "3",
        "run_at": f"{finished} - INTERVAL (51000 + MOD(seq, 300000)) MICROSECOND",
        "timeout": "300",
        "idempotency_key": "NULL",
        "worker": "'bench-host:1:0000abcd'",
        "lease_expires_at": "NULL",
        "cancel_requested": "0",
        "result": "CASE MOD(seq, 100) WHEN 0 THEN NULL WHEN 1 THEN NULL ELSE 'null' END",
        "errors": f"CASE MOD(seq, 100) WHEN 0 THEN '{FAILURE}' ELSE '[]' END",
        "created_at": f"{finished} - INTERVAL (51000 + MOD(seq, 300000)) MICROSECOND",
        "started_at": f"{finished} - INTERVAL (1000 + MOD(seq, 100000)) MICROSECOND",
        "finished_at": finished,
    }
    columns, exprs, params = [], [], []
    for field in Task._meta.concrete_fields:
        if field.primary_key:
            continue
        column = str(field.column)
        columns.append(qn(column))
        if column in known:
            exprs.append(known[column])
        else:  # a column added since: its default, as Django would insert it
            exprs.append("%s")
            params.append(field.get_db_prep_save(field.get_default(), connection))
    return ", ".join(columns), ", ".join(exprs), params


def load_finished(bench: Bench, tenant: Any, rows: int) -> float:
    """Insert ``rows`` finished tasks and their rollups; seconds taken."""
    from jobs.models import Task, TaskStat, ThroughputBucket

    columns, exprs, params = _row_sql(tenant.pk)
    table = connection.ops.quote_name(Task._meta.db_table)
    start = time.monotonic()
    with Progress("load finished tasks", rows, unit="rows", stream=bench.stderr) as bar, connection.cursor() as cur:
        for low in range(1, rows + 1, CHUNK):
            high = min(rows, low + CHUNK - 1)
            sql = (f"INSERT INTO {table} ({columns}) SELECT {exprs.replace('{rows}', str(rows))} "  # noqa: S608
                   f"FROM seq_{low}_to_{high}")
            cur.execute(sql, params)
            bar.update(high)
    qn = connection.ops.quote_name
    stat, bucket = TaskStat._meta, ThroughputBucket._meta
    with connection.cursor() as cur:
        cur.execute(
            f"INSERT INTO {qn(stat.db_table)} (tenant_id, hour, type, priority, status, count, timed, "  # noqa: S608
            f"exec_ms_sum, wait_ms_sum) SELECT tenant_id, DATE_FORMAT(finished_at, '%%Y-%%m-%%d %%H:00:00'), type, "
            f"priority, status, COUNT(*), COUNT(started_at), "
            f"COALESCE(SUM(TIMESTAMPDIFF(MICROSECOND, started_at, finished_at) DIV 1000), 0), "
            f"COALESCE(SUM(TIMESTAMPDIFF(MICROSECOND, created_at, started_at) DIV 1000), 0) "
            f"FROM {table} WHERE finished_at IS NOT NULL GROUP BY 1, 2, 3, 4, 5", []
        )
        slot = ("(finished_at - INTERVAL (MICROSECOND(finished_at) + 1000000 * MOD(SECOND(finished_at), 10)) "
                "MICROSECOND)")
        cur.execute(
            f"INSERT INTO {qn(bucket.db_table)} (tenant_id, bucket, completed, failed, cancelled) "  # noqa: S608
            f"SELECT tenant_id, {slot}, SUM(status = 'completed'), SUM(status = 'failed'), "
            f"SUM(status = 'cancelled') FROM {table} WHERE finished_at IS NOT NULL GROUP BY 1, 2", []
        )
        cur.execute(f"ANALYZE TABLE {table}")
        cur.fetchall()
    return time.monotonic() - start


def settle(bench: Bench, *, timeout: float = 90.0) -> float:
    """Wait until MariaDB is idle again after the bulk load (InnoDB merges index changes and purges
    in the background for a while), so that work is not billed to the drain that follows."""
    import psutil

    pid = bench.server_pids.get("mariadb")
    if pid is None:
        time.sleep(5)  # a server we did not start: we cannot watch it, give it a moment
        return 5.0
    start = time.monotonic()
    proc = psutil.Process(pid)
    last = sum(proc.cpu_times()[:2])
    while time.monotonic() - start < timeout:
        time.sleep(1.0)
        now = sum(proc.cpu_times()[:2])
        if now - last < 0.05:
            break
        last = now
    return time.monotonic() - start


def claim_loop(bench: Bench, tenant: Any, n: int, batch: int, label: str) -> dict[str, Any]:
    """Claim ``n`` queued tasks ``batch`` at a time from this one process; then delete them."""
    from jobs.models import Task
    from jobs.store import transitions

    enqueue_engine(bench, tenant, n, label=f"enqueue for bare claims ({label})")
    claimed = rounds = 0
    start = time.perf_counter()
    while claimed < n:
        got = transitions.claim(worker="bench-claimer", asks={tenant.pk: batch}, queues=None, lease_seconds=3600)
        if not got:
            break
        claimed += len(got)
        rounds += 1
    elapsed = time.perf_counter() - start
    Task.objects.filter(worker="bench-claimer").delete()
    if claimed != n:
        raise BenchError(f"bigtable: the claim loop got {claimed} of {n}")
    return {"tasks": n, "batch": batch, "claims": rounds, "seconds": round(elapsed, 3),
            "tasks_per_s": round(n / elapsed, 1), "ms_per_claim": round(elapsed * 1000 / rounds, 3)}


def console_pages() -> list[tuple[str, str]]:
    from django.urls import NoReverseMatch, reverse

    found = []
    for name in CONSOLE_PAGES:
        try:
            found.append((name, reverse(name)))
        except NoReverseMatch:
            continue
    return found


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def run(bench: Bench) -> dict[str, Any]:
    from tenants import keys

    o = bench.options
    tenant = bench.tenant("bench")
    empty_claims = claim_loop(bench, tenant, o.tasks, o.threads, "empty table")
    empty = drain_engine(bench, o.tasks, processes=o.processes, threads=o.threads, tenant=tenant,
                         label="empty-table")
    bench.reset()
    tenant = bench.tenant("bench")
    load_s = load_finished(bench, tenant, o.rows)
    settle_s = settle(bench)
    big_claims = claim_loop(bench, tenant, o.tasks, o.threads, f"{o.rows:,} finished")
    big = drain_engine(bench, o.tasks, processes=o.processes, threads=o.threads, tenant=tenant,
                       label="big-table")
    _, raw = keys.issue(tenant, name="bench")
    api = {"X-API-Key": raw}
    cookies = staff_session()
    endpoints: list[tuple[str, str, dict[str, str] | None, dict[str, str] | None]] = [
        ("GET /api/tasks", "/api/tasks", api, None),
        ("GET /api/tasks?status=failed", "/api/tasks?status=failed", api, None),
        ("GET /api/tasks?cursor=", "/api/tasks?cursor=", api, None),
        ("GET /api/analytics", "/api/analytics", api, None),
        ("GET /api/analytics/throughput", "/api/analytics/throughput", api, None),
        ("GET /api/analytics/types", "/api/analytics/types", api, None),
    ]
    pages = console_pages()
    endpoints += [(f"console {name.split(':')[1]} {path}", path, None, cookies) for name, path in pages]
    proc, url = start_web(bench)
    reads = []
    with running(bench, proc), Progress("big-table reads", len(endpoints), unit="endpoints",
                                        stream=bench.stderr) as bar:
        for i, (name, path, headers, jar) in enumerate(endpoints):
            sample = get_samples(url, path, samples=o.samples, headers=headers, cookies=jar)
            reads.append({"endpoint": name, **sample})
            bar.update(i + 1)
    bad = [r for r in reads if set(r["statuses"]) != {"200"}]
    if bad:
        raise BenchError("bigtable: endpoints answered other than 200: "
                         + ", ".join(f"{r['endpoint']} {r['statuses']}" for r in bad))
    missing = [n for n in CONSOLE_PAGES[1:] if n not in dict(pages)]
    return {
        "rows": o.rows,
        "load_s": round(load_s, 1),
        "settle_s": round(settle_s, 1),
        "claims_empty": empty_claims,
        "claims_big": big_claims,
        "claim_ratio": _ratio(big_claims["tasks_per_s"], empty_claims["tasks_per_s"]),
        "drain_empty": empty,
        "drain_big": big,
        "drain_ratio": _ratio(big["tasks_per_s"], empty["tasks_per_s"]),
        "reads": reads,
        "worst_p95_ms": max((r["p95_ms"] or 0) for r in reads),
        "console_tasks_page": "measured" if len(pages) > 1 else
        f"not measured: no console tasks page in the URLconf (looked for {', '.join(missing)})",
    }
