"""Django's ``django.tasks`` API running on the engine (jobs.contrib.django_tasks.EngineBackend)."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.tasks import TaskResultStatus
from django.tasks.exceptions import TaskResultDoesNotExist
from django.utils import timezone

from jobs.contrib.django_tasks import engine_priority
from jobs.lifecycle import Status
from jobs.models import Task
from tenants import keys
from tests.taskapp.django_tasks import add, explode, which_attempt

pytestmark = pytest.mark.django_db(transaction=True)


def test_priorities_map_onto_one_to_five():
    assert [engine_priority(p) for p in (-100, -50, 0, 50, 100)] == [1, 2, 3, 4, 5]


def test_a_django_task_runs_on_the_engine_and_reports_its_result(tenant, inprocess_worker):
    result = add.enqueue(2, 3)
    row = Task.objects.get(pk=int(result.id))
    assert (row.type, row.queue, row.priority, row.tenant_id) == ("django_task", "reports", 5, tenant.pk)
    assert result.status == TaskResultStatus.READY
    inprocess_worker.burst()
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 5
    assert result.finished_at is not None


def test_failures_surface_as_django_task_errors(tenant, inprocess_worker, settings):
    result = explode.enqueue()
    Task.objects.filter(pk=int(result.id)).update(max_retries=1)
    inprocess_worker.burst()
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert len(result.errors) == 2
    assert result.errors[-1].exception_class is ValueError
    assert "exploded on purpose" in result.errors[-1].traceback


def test_context_and_run_after(tenant, inprocess_worker):
    later = add.using(run_after=timezone.now() + timedelta(hours=1)).enqueue(1, 1)
    assert Task.objects.get(pk=int(later.id)).status == Status.SCHEDULED
    result = which_attempt.enqueue()
    inprocess_worker.burst()
    result.refresh()
    assert result.return_value == 1


def test_enqueue_commits_with_the_callers_transaction(tenant):
    with pytest.raises(RuntimeError), transaction.atomic():
        add.enqueue(1, 2)
        raise RuntimeError("roll back")
    assert not Task.objects.exists()


def test_unknown_result_ids(tenant):
    with pytest.raises(TaskResultDoesNotExist):
        add.get_result("999999")
    with pytest.raises(TaskResultDoesNotExist):
        add.get_result("not-a-number")


def test_the_http_api_refuses_the_internal_type(tenant, client):
    _, raw = keys.issue(tenant)
    response = client.post("/api/tasks", {"type": "django_task", "payload": {"func": "os.system"}},
                           content_type="application/json", headers={"X-API-Key": raw})
    assert response.status_code == 400
    message = response.json()["errors"][0]["message"]
    assert "unknown task type 'django_task'" in message and "django_task;" not in message
    assert not Task.objects.exists()


def test_the_handler_refuses_anything_but_a_declared_django_task(tenant, inprocess_worker):
    from jobs.services.enqueue import enqueue

    sneaky = enqueue("django_task", tenant=tenant, payload={"func": "os.getcwd", "args": [], "kwargs": {}})
    inprocess_worker.burst()
    sneaky.refresh_from_db()
    assert sneaky.status == Status.FAILED and sneaky.attempts == 1
    assert sneaky.errors[0]["type"] == "PermanentError"
