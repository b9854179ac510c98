"""The drain's physical floor: claim and complete the same no-op rows in raw SQL, no Python task overhead.

Each claimer loops: in one transaction, ``SELECT id … WHERE status = 'pending' AND tenant_id = …
ORDER BY priority DESC, id LIMIT B FOR UPDATE SKIP LOCKED`` (the store's claim statement,
``jobs.store.transitions.claim``, on the same claim index; ids only) and ``UPDATE … SET
status = 'running'`` of those ids; commit; then ``UPDATE … SET status = 'completed'`` of the same
ids (one autocommitted statement, as the completer writes a batch of outcomes). It stops when a
claim comes back empty. What it leaves out is the engine's own work: fairness, gates, events,
rollups, leases renewed, handlers run, results written.

The claimers are threads of the benchmark's process, one Django connection each (not processes:
they spend their time waiting on MariaDB, which releases the GIL), as many as the engine's
processes × threads, each claiming the most one worker claim takes for fast tasks: its pool's
threads plus their prefetch (``threads × (1 + PREFETCH_PER_THREAD)``). MariaDB only: the benchmark
runs on nothing else (``bench.main.check_database_url``).
"""

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from .progress import Progress
from .runtime import Bench, BenchError


def claim_batch(threads: int) -> int:
    """The most one engine claim takes while tasks are fast: ``jobs.worker.pool.ExecutorPool.free_slots``."""
    from jobs.conf import conf

    return threads * (1 + conf().PREFETCH_PER_THREAD)


class Tally:
    def __init__(self) -> None:
        self.done = 0
        self.lock = threading.Lock()

    def add(self, n: int) -> None:
        with self.lock:
            self.done += n


def _claimer(tenant_id: int, batch: int, worker: str, tally: Tally, errors: list[BaseException]) -> None:
    from django.db import connection, transaction

    from jobs.models import Task

    table = connection.ops.quote_name(Task._meta.db_table)
    select = (f"SELECT id FROM {table} WHERE status = 'pending' AND tenant_id = %s "  # noqa: S608
              f"ORDER BY priority DESC, id LIMIT {batch} FOR UPDATE SKIP LOCKED")
    try:
        while True:
            now = datetime.now(UTC)
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute(select, [tenant_id])
                ids = [row[0] for row in cur.fetchall()]
                if not ids:
                    return
                marks = ", ".join(["%s"] * len(ids))
                cur.execute(f"UPDATE {table} SET status = 'running', worker = %s, run = run + 1, "  # noqa: S608
                            f"lease_expires_at = %s WHERE id IN ({marks}) AND status = 'pending'",
                            [worker, now + timedelta(seconds=20), *ids])
            with connection.cursor() as cur:
                cur.execute(f"UPDATE {table} SET status = 'completed', attempts = attempts + 1, "  # noqa: S608
                            f"started_at = %s, finished_at = %s, lease_expires_at = NULL "
                            f"WHERE id IN ({marks}) AND status = 'running'", [now, datetime.now(UTC), *ids])
            tally.add(len(ids))
    except BaseException as exc:  # noqa: BLE001 — reported by the caller, which joins the thread
        errors.append(exc)
    finally:
        connection.close()


def raw_claim_complete(bench: Bench, tenant: Any, n: int, *, claimers: int, batch: int) -> dict[str, Any]:
    """Claim and complete the ``n`` pending rows of ``tenant`` with ``claimers`` threads, ``batch`` a claim."""
    from jobs.lifecycle import Status
    from jobs.models import Task

    tally = Tally()
    errors: list[BaseException] = []
    threads = [threading.Thread(target=_claimer, args=(tenant.pk, batch, f"bench-floor-{i}", tally, errors),
                                name=f"bench-floor-{i}", daemon=True) for i in range(claimers)]
    with Progress(f"raw claim+complete ({claimers} claimers, {batch}/claim)", n, stream=bench.stderr) as bar:
        start = time.perf_counter()
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            bar.update(tally.done)
            time.sleep(0.05)
        elapsed = time.perf_counter() - start
        bar.update(tally.done)
    if errors:
        raise BenchError(f"raw claim+complete: {type(errors[0]).__name__}: {errors[0]}")
    completed = Task.objects.filter(tenant=tenant, status=Status.COMPLETED).count()
    if completed != n:
        raise BenchError(f"raw claim+complete: {completed} rows completed, expected {n}")
    return {"tasks": n, "claimers": claimers, "batch": batch, "seconds": round(elapsed, 3),
            "tasks_per_s": round(n / elapsed, 1) if elapsed > 0 else None,
            "how": f"{claimers} threads of one process (a connection each), SELECT … FOR UPDATE SKIP LOCKED "
                   f"LIMIT {batch} + UPDATE to running, commit, then UPDATE to completed"}
