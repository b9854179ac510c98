"""Run the background bulk actions the console or the API started, in the test process, as a
worker would: claimed through the store, the handler run, its outcome written (a finished job
releases its unique key, so the same action may start again)."""

from typing import Any

from django.db.models import Q
from django.utils import timezone

from jobs.context import TaskContext
from jobs.exceptions import Snoozed
from jobs.models import BulkAction, Task
from jobs.services import bulk
from jobs.store import finish, transitions
from tenants.models import Tenant

WORKER = "test-bulk"


def context_for(job: Task | BulkAction) -> TaskContext:
    task = job.task if isinstance(job, BulkAction) else job
    assert task is not None
    return TaskContext(task_id=task.pk, attempt=task.attempts or 1, tenant_id=task.tenant_id,
                       tenant_slug=bulk.SYSTEM_TENANT, type=bulk.BULK_TYPE, queue=task.queue, worker=WORKER)


def run_bulk_jobs() -> list[dict[str, Any]]:
    """Run every bulk job that is due, once; one that snoozed (waiting for a rate limit's window)
    reports ``{"id", "snoozed": seconds}`` and is scheduled, as the worker would leave it."""
    system = Tenant.objects.filter(slug=bulk.SYSTEM_TENANT).first()
    results: list[dict[str, Any]] = []
    while system is not None:
        claimed = transitions.claim(worker=WORKER, asks={system.pk: 1}, queues=None, lease_seconds=60)
        if not claimed:
            return results
        task = claimed[0]
        task.attempts += 1
        task.started_at = timezone.now()
        try:
            summary = bulk.run(context_for(task))
            outcome = finish.succeeded(task, summary)
            results.append(summary)
        except Snoozed as exc:
            outcome = finish.snoozed(task, exc.seconds)
            results.append({"id": BulkAction.objects.get(task=task).pk, "snoozed": exc.seconds})
        finish.write([finish.started(outcome, task)], fence=Q(worker=WORKER))
    return results


def latest() -> BulkAction:
    found = BulkAction.objects.order_by("-pk").first()
    assert found is not None, "no bulk action was started"
    return found
