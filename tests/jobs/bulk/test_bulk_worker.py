"""A bulk action run by a real worker: done, its key released, so the same action may start again."""

from datetime import timedelta
from typing import Any

from django.utils import timezone

from jobs.lifecycle import Status
from jobs.models import BulkAction, Task
from jobs.services import bulk
from tenants.models import Tenant
from tests.support.builders import add_task
from tests.support.console import statuses


def test_a_worker_runs_the_job_and_a_later_click_starts_a_new_one(tenant: Tenant, inprocess_worker: Any) -> None:
    # Scheduled an hour out: waiting, but not run by the burst before the cancel reaches them.
    later = timezone.now() + timedelta(hours=1)
    tasks = [add_task(tenant, "noop", status=Status.SCHEDULED, run_at=later) for _ in range(3)]
    upto, count, _ = bulk.cutoff("cancel", {"type": "noop"}, None)
    first = bulk.start("cancel", filter={"type": "noop"}, tenant=None, cutoff_id=upto, expected=count)
    inprocess_worker.burst()
    action = BulkAction.objects.select_related("task").get(pk=first.bulk.pk)
    assert (action.state, action.done, action.task.status) == ("done", 3, Status.COMPLETED)
    assert action.task.result["done"] == 3
    assert statuses(*tasks) == [Status.CANCELLED] * 3
    again = bulk.start("cancel", filter={"type": "noop"}, tenant=None, cutoff_id=upto, expected=0)
    assert again.created and again.bulk.pk != first.bulk.pk  # the first one's key was released by its end
    assert Task.objects.get(pk=action.task_id).unique_active is None
