"""ctx.snooze's outcome (jobs.store.finish.snoozed): rescheduled, the attempt given back; a cancel still wins."""

import math
from datetime import timedelta

import pytest
from django.db.models import Q

from jobs import clock
from jobs.context import TaskContext
from jobs.exceptions import MAX_SNOOZE_SECONDS, Snoozed
from jobs.lifecycle import Status
from jobs.models import Event, Task
from jobs.services.enqueue import enqueue
from jobs.store import finish as outcomes
from tests.support.builders import claim

pytestmark = pytest.mark.django_db(transaction=True)


def last_change(task: Task) -> dict:
    row = Event.objects.filter(tenant_id=task.tenant_id).order_by("-id").first()
    assert row is not None
    return row.changes[-1]


@pytest.mark.parametrize("record", [True, False], ids=["start-recorded", "start-not-yet-recorded"])
def test_a_snooze_reschedules_the_task_and_gives_its_attempt_back(tenant, record):
    task = claim(enqueue("noop", tenant=tenant), record=record)
    assert task.attempts == 1
    before = clock.now()
    outcome = outcomes.started(outcomes.failed(task, Snoozed(30), worker="w1"), task)
    assert outcomes.write([outcome], fence=Q(worker="w1")) == 1
    task.refresh_from_db()
    assert (task.status, task.attempts, task.snoozed, task.blocked_on) == (Status.SCHEDULED, 0, 1, "snooze")
    assert before + timedelta(seconds=29) < task.run_at < clock.now() + timedelta(seconds=31)
    assert task.errors == [] and task.lease_expires_at is None and task.finished_at is None
    change = last_change(task)
    assert (change["event"], change["status"]) == ("task.snoozed", Status.SCHEDULED)
    assert change["run_at"]
    # The next run is attempt 1 again, and counts its snooze.
    again = claim(task)
    assert again.attempts == 1 and again.snoozed == 1


def test_a_cancel_requested_during_the_run_wins_over_a_snooze(tenant):
    task = claim(enqueue("noop", tenant=tenant))
    Task.objects.filter(pk=task.pk).update(cancel_requested=True)
    outcome = outcomes.started(outcomes.snoozed(task, 5), task)
    assert outcomes.write([outcome], fence=Q(worker="w1")) == 1
    task.refresh_from_db()
    # The run happened and ended the task: charged, no snooze counted.
    assert (task.status, task.attempts, task.snoozed, task.blocked_on) == (Status.CANCELLED, 1, 0, None)
    assert task.finished_at is not None
    assert last_change(task)["event"] == "task.cancelled"


def test_a_snooze_of_a_stale_run_is_fenced_out(tenant):
    task = claim(enqueue("noop", tenant=tenant))
    stale = outcomes.snoozed(task, 1)
    stale.run = task.run - 1
    assert outcomes.write([stale], fence=Q(worker="w1")) == 0
    task.refresh_from_db()
    assert task.status == Status.RUNNING and task.snoozed == 0


@pytest.mark.parametrize("seconds", [0, -1, math.nan, math.inf, MAX_SNOOZE_SECONDS + 1, True, "5", None])
def test_bad_snooze_seconds_are_a_clear_error(seconds):
    ctx = TaskContext(task_id=1, attempt=1, tenant_id=1, tenant_slug="t", type="x", queue="default", worker="w")
    with pytest.raises(ValueError, match=r"ctx.snooze\(seconds\): seconds must be a number > 0"):
        ctx.snooze(seconds)


def test_snooze_raises_a_base_exception_that_except_exception_does_not_catch():
    ctx = TaskContext(task_id=1, attempt=1, tenant_id=1, tenant_slug="t", type="x", queue="default", worker="w")
    with pytest.raises(Snoozed) as info:
        try:
            ctx.snooze(0.5)
        except Exception:
            pytest.fail("a snooze must pass through except Exception")
    assert info.value.seconds == 0.5 and not isinstance(info.value, Exception)
