"""An inactive tenant's waiting tasks do not start (its keys answer 403: tests/security/test_operators.py)."""

from typing import Any

import pytest

from jobs.lifecycle import Status
from jobs.models import Task
from jobs.services import why
from jobs.services.enqueue import enqueue
from tenants.models import Tenant


@pytest.mark.django_db(transaction=True)
def test_a_worker_leaves_an_inactive_tenants_tasks_waiting_and_runs_the_others(
        tenant: Tenant, other_tenant: Tenant, inprocess_worker: Any) -> None:
    held = [enqueue("noop", tenant=tenant).pk for _ in range(3)]
    other = [enqueue("noop", tenant=other_tenant).pk for _ in range(3)]
    Tenant.objects.filter(pk=tenant.pk).update(active=False)

    inprocess_worker.burst(threads=2)

    statuses = dict(Task.objects.filter(pk__in=held + other).values_list("pk", "status"))
    assert {statuses[pk] for pk in other} == {Status.COMPLETED}
    assert {statuses[pk] for pk in held} == {Status.PENDING}
    reason = why.explain(Task.objects.get(pk=held[0]))
    assert reason.code == "paused" and reason.detail["inactive"] is True and "inactive" in reason.message
    assert why.count_by_reason(Task.objects.filter(tenant=tenant))["paused"] == 3

    Tenant.objects.filter(pk=tenant.pk).update(active=True)
    inprocess_worker.burst(threads=2)
    assert set(Task.objects.filter(pk__in=held).values_list("status", flat=True)) == {Status.COMPLETED}
