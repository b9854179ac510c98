"""Housekeeping every live instance runs: rescue, promote, prune, reap.

Each is safe to run concurrently on many hosts: rows are taken with SKIP LOCKED
and every write is fenced by the state it expects.
"""

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from . import outcomes
from .conf import conf
from .exceptions import WorkerLost
from .models import Event, Status, Task, TaskQuerySet, ThroughputBucket, WorkerProcess

logger = logging.getLogger(__name__)


def _rescue(qs: TaskQuerySet, *, reason: str, batch: int) -> int:
    """Fail the current attempt of each task in ``qs`` as lost; retry or dead-letter it."""
    now = timezone.now()
    with transaction.atomic():
        tasks = list(
            qs.order_by("id").select_for_update(skip_locked=True)
            .only("id", "tenant_id", "type", "priority", "attempts", "max_retries", "errors", "worker",
                  "created_at", "started_at")[:batch]
        )
        results = []
        for task in tasks:
            outcome = outcomes.failed(
                task, WorkerLost(reason.format(worker=task.worker)), worker=task.worker or "", now=now,
                with_traceback=False,
            )
            if outcome.status == Status.SCHEDULED:
                # A lost worker is rarely the task's fault: back to the queue at once.
                outcome.status = Status.PENDING
                outcome.fields["status"] = Status.PENDING
                outcome.fields.pop("run_at", None)
            outcome.fields["worker"] = None
            results.append(outcome)
        written = outcomes.write(results)
    if written:
        logger.warning("rescued %d task(s): %s", written, reason.format(worker="(various)"))
    return written


def rescue_expired(batch: int = 500) -> int:
    """Return tasks whose lease lapsed (their worker died or hung) to the queue."""
    return _rescue(
        Task.objects.expired(timezone.now()),
        reason="worker {worker} stopped renewing its lease",
        batch=batch,
    )


def rescue_worker(worker_id: str, batch: int = 500) -> int:
    """Return every task a known-dead worker process held, without waiting for its leases."""
    total = 0
    while n := _rescue(
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
    deleted, _ = WorkerProcess.objects.dead(timezone.now(), ttl).delete()
    return deleted


def promote_due(batch: int = 1000) -> int:
    total = 0
    now = timezone.now()
    while n := Task.objects.promote_due(now, limit=batch):
        total += n
        if n < batch:
            break
    return total


def prune_side_tables(batch: int = 5000) -> int:
    """Drop old outbox events and fine-grained throughput buckets (hourly rollups stay)."""
    c = conf()
    now = timezone.now()
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
    return total


def prune(*, older_than_seconds: float | None = None, batch: int | None = None, max_batches: int | None = None) -> int:
    """Delete finished tasks older than the retention, in bounded batches."""
    c = conf()
    age = c.RETENTION_SECONDS if older_than_seconds is None else older_than_seconds
    if age <= 0 and older_than_seconds is None:
        return 0
    batch = batch or c.PRUNE_BATCH
    cutoff = timezone.now() - timedelta(seconds=age)
    total = 0
    rounds = 0
    while ids := list(Task.objects.prunable(cutoff).order_by("finished_at").values_list("id", flat=True)[:batch]):
        total += Task.objects.filter(Q(pk__in=ids), finished_at__lt=cutoff).delete()[0]
        rounds += 1
        if max_batches is not None and rounds >= max_batches:
            break
    return total
