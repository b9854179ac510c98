"""A lost worker is not the task's fault: rescue uses no retries, ignores retry_on, and a task
that keeps losing its worker is dead-lettered after its max_lost, with back-off between."""

from datetime import datetime

import pytest
from django.db.models import Q

from jobs.lifecycle import Status
from jobs.models import Event, Task
from jobs.services.enqueue import enqueue
from jobs.store import finish, rescue
from tests.support.builders import claim

pytestmark = pytest.mark.django_db(transaction=True)


def _claim(task: Task, *, worker: str = "w1") -> Task:
    return claim(task, worker=worker)


def _lose(task: Task) -> Task:
    assert rescue.rescue(Task.objects.filter(pk=task.pk), reason="worker {worker} died", batch=10) == 1
    task.refresh_from_db()
    return task


def test_a_lost_run_uses_no_retry_even_with_max_retries_zero(tenant):
    task = _lose(_claim(enqueue("noop", tenant=tenant, max_retries=0)))
    assert (task.status, task.attempts, task.lost) == (Status.PENDING, 1, 1)
    assert task.errors[-1]["type"] == "WorkerLost"
    changes = [c for e in Event.objects.filter(tenant=tenant).order_by("id") for c in e.changes]
    assert changes[-1]["event"] == "task.rescued"


def test_a_lost_run_ignores_the_types_retry_on(tenant):
    # ``picky`` retries only TimeoutError: a worker loss must not dead-letter it.
    task = _lose(_claim(enqueue("picky", tenant=tenant)))
    assert task.status == Status.PENDING


def test_real_failures_still_count_only_the_runs_that_were_not_lost(tenant):
    task = _lose(_claim(enqueue("noop", tenant=tenant, max_retries=1)))
    again = _claim(task)
    assert (again.attempts, again.lost) == (2, 1)
    first_failure = finish.failed(again, RuntimeError("boom"), worker="w1")
    assert first_failure.status == Status.SCHEDULED, "one charged attempt of the two allowed"
    assert finish.write([first_failure], fence=Q(worker="w1")) == 1
    third = _claim(task)
    assert finish.failed(third, RuntimeError("boom"), worker="w1").status == Status.FAILED


def test_a_task_that_keeps_losing_its_worker_backs_off_then_is_dead_lettered(tenant, settings):
    settings.JOBS = {**settings.JOBS, "MAX_LOST": 3}
    task = enqueue("noop", tenant=tenant, max_retries=0)
    seen = []
    for _ in range(4):
        task = _lose(_claim(task))
        seen.append((task.status, task.lost))
        if task.status == Status.SCHEDULED:
            # Against the loss's own time, not the clock now: the test back-off is ~50 ms.
            lost_at = datetime.fromisoformat(task.errors[-1]["at"])
            assert task.run_at > lost_at, "a repeat loss waits before the next run"
    assert seen == [(Status.PENDING, 1), (Status.SCHEDULED, 2), (Status.SCHEDULED, 3), (Status.FAILED, 4)]
    assert [e["type"] for e in task.errors] == ["WorkerLost"] * 4 and task.finished_at is not None


def test_a_type_may_allow_more_lost_runs(tenant):
    assert rescue.max_lost(enqueue("hardy", tenant=tenant)) == 5  # tests/taskapp/tasks.py
    assert rescue.max_lost(enqueue("noop", tenant=tenant)) == 3  # JOBS['MAX_LOST']
