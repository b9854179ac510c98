"""The floors the enqueue figures stand beside, measured in the same run on the same servers.

* ``enqueue_loop``: one Python thread calling ``enqueue()`` in a loop, one task per call (what
  one ``POST /api/tasks`` does, minus HTTP, the server and the API's checks);
* ``raw_insert``: the same rows as a batch, as bare multi-row INSERT statements through the
  Django connection's cursor (what ``POST /api/tasks/batch`` does, minus everything but the rows);
* ``get_load``: ``GET /api/health`` by as many clients as the single-POST load: the server's
  per-request cost, with no database write;
* ``statements_per_request``: MariaDB's global counters around a load, per request.
"""

import asyncio
import time
from typing import Any

from .progress import Progress
from .runtime import Bench, latency_summary
from .web import send_many

#: The counters ``statements_per_request`` reports, by the name it reports them under.
COUNTERS = {"statements": "Questions", "selects": "Com_select", "inserts": "Com_insert", "updates": "Com_update",
            "commits": "Com_commit", "rollbacks": "Com_rollback", "set_options": "Com_set_option"}


def _rate(n: int, seconds: float) -> float | None:
    return round(n / seconds, 1) if seconds > 0 else None


def enqueue_loop(bench: Bench, tenant: Any, n: int) -> dict[str, Any]:
    """``n`` calls of ``enqueue("noop")`` from this one thread, back to back."""
    from jobs.services.enqueue import enqueue

    with Progress("in-process enqueue() loop", n, stream=bench.stderr) as bar:
        start = time.perf_counter()
        for i in range(n):
            enqueue("noop", tenant=tenant)
            if i % 50 == 0:
                bar.update(i)
        elapsed = time.perf_counter() - start
        bar.update(n)
    return {"tasks": n, "seconds": round(elapsed, 3), "tasks_per_s": _rate(n, elapsed),
            "how": "one thread, enqueue('noop', tenant=…) per task"}


def _literal(value: Any) -> str:
    """``value`` as a MariaDB literal, escaped by the client library (once per column, not per row)."""
    from django.db import connection

    connection.ensure_connection()
    literal = connection.connection.literal(value)
    return literal.decode() if isinstance(literal, bytes) else str(literal)


def noop_row_sql(tenant: Any) -> tuple[str, str]:
    """Columns and one VALUES tuple of the pending ``noop`` row ``enqueue()`` would write, as literals.

    The row is the one ``build_task`` describes for ``{"type": "noop"}`` (every default, the same
    timestamps for every row: a batch is one moment too); columns as in ``bigtable._row_sql``.
    """
    from django.db import connection

    from jobs.services.enqueue import build_task

    prototype = build_task(tenant, {"type": "noop"})
    columns, values = [], []
    for field in prototype._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(connection.ops.quote_name(str(field.column)))
        values.append(_literal(field.get_db_prep_save(getattr(prototype, field.attname), connection)))
    return ", ".join(columns), "(" + ", ".join(values) + ")"


def raw_insert(bench: Bench, tenant: Any, rows: int, per_statement: int) -> dict[str, Any]:
    """``rows`` task rows, ``per_statement`` per multi-row INSERT, each statement its own commit."""
    from django.db import connection, transaction

    from jobs.models import Task

    columns, row = noop_row_sql(tenant)
    table = connection.ops.quote_name(Task._meta.db_table)
    statements = 0
    with Progress(f"raw INSERT of {per_statement} rows", rows, stream=bench.stderr) as bar:
        start = time.perf_counter()
        for offset in range(0, rows, per_statement):
            size = min(per_statement, rows - offset)
            sql = f"INSERT INTO {table} ({columns}) VALUES " + ", ".join([row] * size)  # noqa: S608 — our literals
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute(sql)
            statements += 1
            bar.update(offset + size)
        elapsed = time.perf_counter() - start
    return {"tasks": rows, "rows_per_statement": per_statement, "statements": statements,
            "seconds": round(elapsed, 3), "tasks_per_s": _rate(rows, elapsed),
            "how": "multi-row INSERT … VALUES of literal rows, one statement and one commit each"}


def get_load(bench: Bench, url: str, *, path: str, requests: int, concurrency: int) -> dict[str, Any]:
    """``requests`` GETs of ``path`` by ``concurrency`` clients (as ``web.post_load`` POSTs)."""
    with Progress(f"GET {path} ×{concurrency}", requests, stream=bench.stderr) as bar:
        raw = asyncio.run(send_many(url, path, requests, concurrency, bar))
    elapsed = raw["elapsed_s"]
    return {"path": path, "requests": requests, "concurrency": concurrency, "seconds": round(elapsed, 3),
            "requests_per_s": _rate(requests, elapsed),
            "statuses": {str(k): v for k, v in sorted(raw["statuses"].items())},
            "latency": latency_summary(raw["latencies"])}


def db_counters(bench: Bench) -> dict[str, int] | None:
    """MariaDB's global statement counters; None on another database (SQLite keeps none)."""
    from django.db import connection

    return bench.db_status() if connection.vendor == "mysql" else None


def statements_per_request(before: dict[str, int] | None, after: dict[str, int] | None,
                           requests: int) -> dict[str, float] | None:
    """Each counter's growth between two ``db_counters`` readings, per request (None without counters).

    The counters are the server's, global: they include whatever else talked to it meanwhile (during
    a load, only the web process does; the two readings add one statement each).
    """
    if before is None or after is None or not requests:
        return None
    return {name: round((after[key] - before.get(key, 0)) / requests, 2) for name, key in COUNTERS.items()}
