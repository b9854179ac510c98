"""Rows a test needs, written directly: tasks in any state, finished tasks with their rollups, workers."""

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from jobs.lifecycle import Status
from jobs.models import Task, WorkerProcess
from jobs.services.enqueue import enqueue
from jobs.store import rollups
from tenants.models import Tenant


def make_task(tenant: Tenant, type: str = "noop", *, status: str | None = None, **fields: Any) -> Task:
    """Enqueue a task, then force the given status and columns (no rollups written)."""
    spec = {k: fields.pop(k) for k in ("payload", "priority", "queue", "idempotency_key", "max_retries")
            if k in fields}
    task = enqueue(type, tenant=tenant, **spec)
    if status is not None:
        fields["status"] = status
    if fields:
        Task.objects.filter(pk=task.pk).update(**fields)
        task.refresh_from_db()
    return task


def add_task(tenant: Tenant, type: str = "noop", *, status: str = Status.PENDING, **fields: Any) -> Task:
    return Task.objects.create(tenant=tenant, type=type, status=status, **fields)


def set_status(task: Task, status: str, **fields: Any) -> Task:
    """Force ``task``'s status (and any other columns), then read it back."""
    Task.objects.filter(pk=task.pk).update(status=status, **fields)
    task.refresh_from_db()
    return task


def error_entry(attempt: int, kind: str, message: str, *, worker: str = "host-a:100:w",
                at: datetime | None = None) -> dict[str, Any]:
    return {"attempt": attempt, "at": (at or timezone.now()).isoformat(), "type": kind, "message": message,
            "worker": worker, "traceback": f"Traceback …\n{kind}: {message}"}


def failed_task(tenant: Tenant, type: str, *errors: tuple[str, str], **fields: Any) -> Task:
    """A dead-lettered task whose error history is ``errors`` (oldest first)."""
    now = timezone.now()
    entries = [error_entry(i + 1, kind, message) for i, (kind, message) in enumerate(errors)]
    return add_task(tenant, type, status=Status.FAILED, attempts=len(entries), errors=entries, finished_at=now,
                    started_at=now - timedelta(seconds=1), **fields)


def finish(task: Task, status: str, *, wait_ms: int | None = 1000, exec_ms: int | None = 2000,
           finished_at: datetime | None = None) -> Task:
    """Finish ``task`` as a worker would: the final columns plus the rollup events."""
    finished_at = finished_at or timezone.now()
    if wait_ms is None:
        started_at = None
        created_at = finished_at - timedelta(seconds=1)
    else:
        started_at = finished_at - timedelta(milliseconds=exec_ms or 0)
        created_at = started_at - timedelta(milliseconds=wait_ms)
    # Due when created: the queue wait runs from max(created_at, run_at).
    Task.objects.filter(pk=task.pk).update(status=status, created_at=created_at, run_at=created_at,
                                           started_at=started_at, finished_at=finished_at,
                                           attempts=0 if started_at is None else 1,
                                           worker=None if started_at is None else "host-a:100:w")
    task.refresh_from_db()
    rollups.record([rollups.Finished(task.tenant_id, task.type, task.priority, status, created_at, started_at,
                                 finished_at, created_at)])
    return task


def add_worker(pid: int, *, instance: str = "host-a", slots: list[dict[str, Any]] | None = None,
               heartbeat_age: float = 0.5, clock_skew: float | None = None) -> WorkerProcess:
    return WorkerProcess.objects.create(
        id=f"{instance}:{pid}:test", instance=instance, hostname=f"{instance}.example", pid=pid,
        threads=len(slots or []), slots=slots or [], last_heartbeat=timezone.now() - timedelta(seconds=heartbeat_age),
        clock_skew=clock_skew,
    )


def slot(index: int, task: Task | None = None, *, running_s: float = 0) -> dict[str, Any]:
    if task is None:
        return {"slot": index, "task_id": None, "type": None, "tenant_id": None, "started_at": None}
    started = timezone.now() - timedelta(seconds=running_s)
    return {"slot": index, "task_id": task.pk, "type": task.type, "tenant_id": task.tenant_id,
            "started_at": started.isoformat()}


def claim(task: Task, *, worker: str = "w1", start: bool = True, record: bool = True) -> Task:
    """Claim ``task`` as the dispatcher would (its claim token moves on); then start its handler
    as the executor pool does (one more attempt), and have the start recorded (``record``)."""
    from jobs.store import transitions

    Task.objects.filter(pk=task.pk).update(status=Status.PENDING, run_at=timezone.now())
    (claimed,) = transitions.claim(worker=worker, asks={task.tenant_id: 1}, queues=None, lease_seconds=60)
    assert claimed.pk == task.pk
    if start:
        claimed.attempts += 1
        claimed.started_at = timezone.now()
        if record:
            assert transitions.mark_started(worker=worker, starts=[(claimed.pk, claimed.run, claimed.started_at)]) == 1
    return claimed
