"""Housekeeping every live instance runs: rescue, promote, prune, reap.

Each is safe to run concurrently on many hosts: rows are taken with SKIP LOCKED
and every write is fenced by the state it expects. Every cut-off is on the database's
clock (``jobs.clock``): measured at most a minute ago here, every heartbeat in a worker.
"""

from datetime import timedelta

from django.db.models import Q

from .. import clock
from ..conf import conf
from ..models import Event, Task, ThroughputBucket, WorkerProcess
from ..store import gates, rescue, transitions
from . import audit, idempotency


def rescue_expired(batch: int = 500) -> int:
    """Return tasks whose lease lapsed (their worker died or hung) to the queue."""
    clock.refresh()
    return rescue.rescue(
        Task.objects.expired(clock.now()),
        reason="worker {worker} stopped renewing its lease",
        batch=batch,
    )


def rescue_worker(worker_id: str, batch: int = 500) -> int:
    """Return every task a known-dead worker process held, without waiting for its leases."""
    total = 0
    while n := rescue.rescue(
        Task.objects.running().filter(worker=worker_id),
        reason="worker {worker} died",
        batch=batch,
    ):
        total += n
    WorkerProcess.objects.filter(pk=worker_id).delete()
    return total


def reap_dead_workers() -> int:
    """Forget worker processes whose heartbeat stopped (their tasks expire on their own)."""
    ttl = conf().LEASE_SECONDS
    clock.refresh()
    deleted, _ = WorkerProcess.objects.dead(clock.now(), ttl).delete()
    return deleted


def promote_due(batch: int = 1000) -> int:
    """Move every due scheduled task into the ready set, a bounded batch at a time."""
    total = 0
    clock.refresh()
    now = clock.now()
    while n := transitions.promote_due(now, limit=batch):
        total += n
        if n < batch:
            break
    return total


def unblock_free_keys() -> int:
    """Unblock tasks whose concurrency key has slots free that no run's end handed on (a safety net)."""
    return gates.sweep_keys()


def prune_side_tables(batch: int = 5000) -> int:
    """Drop old outbox events, fine-grained throughput buckets (hourly rollups stay) and audit entries older
    than ``AUDIT_RETENTION_SECONDS`` and batch idempotency keys past theirs."""
    c = conf()
    clock.refresh()
    now = clock.now()
    total = 0
    for model, field, age in (
        (Event, "created_at", c.EVENT_RETENTION_SECONDS),
        (ThroughputBucket, "bucket", 86400),
    ):
        cutoff = now - timedelta(seconds=age)
        while ids := list(model.objects.filter(**{f"{field}__lt": cutoff}).order_by(field)
                          .values_list("pk", flat=True)[:batch]):
            total += model.objects.filter(pk__in=ids).delete()[0]
            if len(ids) < batch:
                break
    return total + audit.prune(now, batch=batch) + idempotency.prune_batch_keys(now, batch=batch)


def prune(*, older_than_seconds: float | None = None, batch: int | None = None, max_batches: int | None = None) -> int:
    """Delete finished tasks older than the retention, in bounded batches."""
    c = conf()
    age = c.RETENTION_SECONDS if older_than_seconds is None else older_than_seconds
    if age <= 0 and older_than_seconds is None:
        return 0
    batch = batch or c.PRUNE_BATCH
    clock.refresh()
    cutoff = clock.now() - timedelta(seconds=age)
    total = 0
    rounds = 0
    while ids := list(Task.objects.prunable(cutoff).order_by("finished_at").values_list("id", flat=True)[:batch]):
        total += Task.objects.filter(Q(pk__in=ids), finished_at__lt=cutoff).delete()[0]
        rounds += 1
        if max_batches is not None and rounds >= max_batches:
            break
    return total
