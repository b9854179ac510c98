"""The operator actions (jobs.services.control): cancel, requeue and requeue_failed."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.exceptions import InvalidTransition
from jobs.lifecycle import Status
from jobs.models import Task
from jobs.notify import wakeup
from jobs.services import control
from jobs.services.enqueue import enqueue
from tenants.models import Tenant
from tests.support.builders import set_status

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("delay", [None, 3600])
def test_cancel_waiting_task(tenant: Tenant, delay: int | None) -> None:
    task = enqueue("noop", tenant=tenant, delay=delay)
    assert task.status == (Status.SCHEDULED if delay else Status.PENDING)
    before = timezone.now()
    returned = control.cancel(task.pk)
    assert returned.status == Status.CANCELLED
    task.refresh_from_db()
    assert task.status == Status.CANCELLED
    assert task.finished_at is not None
    assert before <= task.finished_at <= timezone.now()


@pytest.mark.parametrize("status", [Status.COMPLETED, Status.FAILED, Status.CANCELLED])
def test_cancel_finished_task_is_an_invalid_transition(tenant: Tenant, status: str) -> None:
    finished = timezone.now() - timedelta(minutes=1)
    task = set_status(enqueue("noop", tenant=tenant), status, finished_at=finished)
    with pytest.raises(InvalidTransition) as info:
        control.cancel(task.pk)
    assert info.value.status == status
    assert info.value.task_id == task.pk
    assert status in str(info.value)
    assert "cancel" in str(info.value)
    task.refresh_from_db()
    assert task.status == status
    assert task.finished_at == finished


def test_cancel_running_task_requests_cancellation(tenant: Tenant) -> None:
    task = set_status(enqueue("noop", tenant=tenant), Status.RUNNING, worker="w1", started_at=timezone.now())
    returned = control.cancel(task.pk)
    assert returned.status == Status.RUNNING
    assert returned.cancel_requested is True
    task.refresh_from_db()
    assert (task.status, task.cancel_requested, task.finished_at) == (Status.RUNNING, True, None)


@pytest.mark.django_db(transaction=True)
def test_cancel_running_task_announces_a_cancellation(tenant: Tenant, announcements: list[bytes]) -> None:
    task = set_status(enqueue("noop", tenant=tenant), Status.RUNNING, worker="w1")
    announcements.clear()
    control.cancel(task.pk)
    assert announcements == [wakeup.CANCEL]


def test_cancel_unknown_task(db: None) -> None:
    with pytest.raises(Task.DoesNotExist):
        control.cancel(987654)


def test_cancel_is_tenant_scoped(tenant: Tenant, other_tenant: Tenant) -> None:
    task = enqueue("noop", tenant=tenant)
    with pytest.raises(Task.DoesNotExist):
        control.cancel(task.pk, tenant=other_tenant)
    task.refresh_from_db()
    assert task.status == Status.PENDING
    assert control.cancel(task.pk, tenant=tenant).status == Status.CANCELLED


def test_requeue_failed_task_keeps_the_error_history(tenant: Tenant) -> None:
    history = [{"attempt": 1, "error": "boom"}, {"attempt": 2, "error": "boom again"}]
    task = set_status(
        enqueue("noop", tenant=tenant), Status.FAILED, attempts=2, errors=history, worker="w1",
        started_at=timezone.now() - timedelta(seconds=5), finished_at=timezone.now(), result={"x": 1},
    )
    before = timezone.now()
    returned = control.requeue(task.pk)
    assert returned.status == Status.PENDING
    task.refresh_from_db()
    assert task.status == Status.PENDING
    assert task.attempts == 0
    assert task.errors == history
    assert task.finished_at is None
    assert task.started_at is None
    assert task.worker is None
    assert task.result is None
    assert before <= task.run_at <= timezone.now()


def test_requeue_cancelled_task(tenant: Tenant) -> None:
    task = enqueue("noop", tenant=tenant, delay=3600)
    control.cancel(task.pk)
    assert control.requeue(task.pk).status == Status.PENDING


@pytest.mark.parametrize("status", [Status.PENDING, Status.SCHEDULED, Status.RUNNING, Status.COMPLETED])
def test_requeue_of_a_live_or_completed_task_is_an_invalid_transition(tenant: Tenant, status: str) -> None:
    task = set_status(enqueue("noop", tenant=tenant), status, attempts=1)
    with pytest.raises(InvalidTransition) as info:
        control.requeue(task.pk)
    assert info.value.status == status
    assert "requeue" in str(info.value)
    task.refresh_from_db()
    assert (task.status, task.attempts) == (status, 1)


def test_requeue_unknown_task(db: None) -> None:
    with pytest.raises(Task.DoesNotExist):
        control.requeue(987654)


def test_requeue_is_tenant_scoped(tenant: Tenant, other_tenant: Tenant) -> None:
    task = set_status(enqueue("noop", tenant=tenant), Status.FAILED, attempts=4)
    with pytest.raises(Task.DoesNotExist):
        control.requeue(task.pk, tenant=other_tenant)
    task.refresh_from_db()
    assert (task.status, task.attempts) == (Status.FAILED, 4)
    assert control.requeue(task.pk, tenant=tenant).status == Status.PENDING


def _mixed_states(tenant: Tenant, other_tenant: Tenant) -> dict[str, Task]:
    tasks = {
        "failed_noop": enqueue("noop", tenant=tenant),
        "failed_sleep": enqueue("sleep", tenant=tenant),
        "failed_other": enqueue("noop", tenant=other_tenant),
        "completed": enqueue("noop", tenant=tenant),
        "cancelled": enqueue("noop", tenant=tenant),
        "pending": enqueue("noop", tenant=tenant),
    }
    for name in ("failed_noop", "failed_sleep", "failed_other"):
        set_status(tasks[name], Status.FAILED, attempts=4, finished_at=timezone.now())
    set_status(tasks["completed"], Status.COMPLETED, attempts=1, finished_at=timezone.now())
    set_status(tasks["cancelled"], Status.CANCELLED, finished_at=timezone.now())
    return tasks


def _statuses(tasks: dict[str, Task]) -> dict[str, str]:
    return {name: Task.objects.get(pk=t.pk).status for name, t in tasks.items()}


def test_requeue_failed_requeues_only_failed_tasks(tenant: Tenant, other_tenant: Tenant) -> None:
    tasks = _mixed_states(tenant, other_tenant)
    assert control.requeue_failed(batch=1) == 3
    assert _statuses(tasks) == {
        "failed_noop": Status.PENDING,
        "failed_sleep": Status.PENDING,
        "failed_other": Status.PENDING,
        "completed": Status.COMPLETED,
        "cancelled": Status.CANCELLED,
        "pending": Status.PENDING,
    }
    failed = [tasks[name].pk for name in ("failed_noop", "failed_sleep", "failed_other")]
    assert list(Task.objects.filter(pk__in=failed).values_list("attempts", flat=True)) == [0, 0, 0]
    assert Task.objects.get(pk=tasks["completed"].pk).attempts == 1
    assert control.requeue_failed() == 0


def test_requeue_failed_filtered_by_type(tenant: Tenant, other_tenant: Tenant) -> None:
    tasks = _mixed_states(tenant, other_tenant)
    assert control.requeue_failed(type="sleep") == 1
    statuses = _statuses(tasks)
    assert statuses["failed_sleep"] == Status.PENDING
    assert statuses["failed_noop"] == statuses["failed_other"] == Status.FAILED


def test_requeue_failed_filtered_by_tenant(tenant: Tenant, other_tenant: Tenant) -> None:
    tasks = _mixed_states(tenant, other_tenant)
    assert control.requeue_failed(tenant=other_tenant) == 1
    statuses = _statuses(tasks)
    assert statuses["failed_other"] == Status.PENDING
    assert statuses["failed_noop"] == statuses["failed_sleep"] == Status.FAILED
