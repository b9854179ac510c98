"""The fenced end of a run (jobs.store.finish): retry outcomes and backoff, rescue of expired leases, fenced writes."""

from datetime import timedelta

import pytest
from django.db.models import Q
from django.utils import timezone

from jobs.lifecycle import Status
from jobs.models import Task
from jobs.retry import backoff_delay
from jobs.services import maintenance
from jobs.services.enqueue import enqueue
from jobs.store import finish as outcomes
from tests.support.builders import claim

pytestmark = pytest.mark.django_db(transaction=True)


def test_backoff_grows_exponentially_with_bounded_jitter_and_cap():
    for attempt in range(1, 8):
        delays = [backoff_delay(attempt, base=1.0, cap=1000) for _ in range(200)]
        nominal = 2 ** (attempt - 1)
        assert min(delays) >= nominal * 0.75 and max(delays) <= nominal * 1.25
        assert len(set(delays)) > 1, "jitter spreads retries"
    assert backoff_delay(30, base=1.0, cap=60) <= 60


def test_retry_outcome_goes_through_scheduled_until_attempts_run_out(tenant):
    task = enqueue("fail", tenant=tenant, max_retries=1)
    task.attempts = 1
    first = outcomes.failed(task, RuntimeError("x"), worker="w")
    assert first.status == Status.SCHEDULED and first.fields["run_at"] > timezone.now()
    task.attempts = 2
    assert outcomes.failed(task, RuntimeError("x"), worker="w").status == Status.FAILED


def test_expired_leases_are_rescued_or_dead_lettered(tenant):
    past = timezone.now() - timedelta(seconds=1)
    retry = enqueue("noop", tenant=tenant, max_retries=1)
    exhausted = enqueue("noop", tenant=tenant, max_retries=1)
    fresh = enqueue("noop", tenant=tenant)
    Task.objects.filter(pk=retry.pk).update(status=Status.RUNNING, worker="w1", attempts=1, started_at=past,
                                                lease_expires_at=past)
    # A lost run uses no retry: only a task that lost more than MAX_LOST (3) runs is dead-lettered.
    Task.objects.filter(pk=exhausted.pk).update(status=Status.RUNNING, worker="w1", attempts=4, lost=3,
                                                started_at=past, lease_expires_at=past)
    Task.objects.filter(pk=fresh.pk).update(status=Status.RUNNING, worker="w2", attempts=1,
                                            lease_expires_at=timezone.now() + timedelta(minutes=1))
    assert maintenance.rescue_expired() == 2
    statuses = dict(Task.objects.values_list("pk", "status"))
    assert statuses == {retry.pk: Status.PENDING, exhausted.pk: Status.FAILED, fresh.pk: Status.RUNNING}


def test_completion_writes_are_fenced_against_stale_runs_and_cancellation(tenant):
    task = enqueue("noop", tenant=tenant)
    Task.objects.filter(pk=task.pk).update(status=Status.RUNNING, worker="w1", attempts=2, run=2)
    task.refresh_from_db()
    stale = outcomes.Outcome(task.pk, 2, Status.COMPLETED, {"status": Status.COMPLETED, "result": "stale"}, run=1)
    assert outcomes.write([stale], fence=Q(worker="w1")) == 0
    unfenced = outcomes.Outcome(task.pk, 2, Status.COMPLETED, {"status": Status.COMPLETED, "result": "who?"})
    assert outcomes.write([unfenced], fence=Q(worker="w1")) == 0
    other_worker = outcomes.succeeded(task, "zombie")
    assert outcomes.write([other_worker], fence=Q(worker="w0")) == 0
    Task.objects.filter(pk=task.pk).update(cancel_requested=True)
    # A cancel the handler saw before it returned wins over its result.
    seen = outcomes.succeeded(task, "late")
    seen.cancel_seen = True
    assert outcomes.write([seen], fence=Q(worker="w1")) == 1
    task.refresh_from_db()
    assert task.status == Status.CANCELLED and task.finished_at is not None
    # A finished task can never be overwritten.
    assert outcomes.write([outcomes.succeeded(task, "again")], fence=Q(worker="w1")) == 0


def _running(task: Task, *, worker: str = "w1") -> Task:
    return claim(task, worker=worker)


def test_a_requeued_and_reclaimed_task_refuses_the_old_runs_result(tenant):
    """ABA: attempts are reset by a requeue, the claim token is not."""
    from jobs.services import control

    task = enqueue("noop", tenant=tenant, max_retries=0)
    first = _running(task)
    assert outcomes.write([outcomes.failed(first, RuntimeError("boom"), worker="w1")], fence=Q(worker="w1")) == 1
    control.requeue(task.pk)
    second = _running(task)
    assert (first.attempts, first.run) == (1, 1) and (second.attempts, second.run) == (1, 2)
    stale = outcomes.succeeded(first, "stale")
    assert outcomes.write([stale], fence=Q(worker="w1")) == 0, "same worker, same attempt number: still fenced"
    assert outcomes.write([outcomes.succeeded(second, "fresh")], fence=Q(worker="w1")) == 1
    task.refresh_from_db()
    assert (task.status, task.result, task.run) == (Status.COMPLETED, "fresh", 2)


def test_a_run_whose_lease_was_rescued_cannot_write_over_the_rerun_by_the_same_worker(tenant):
    task = enqueue("noop", tenant=tenant)
    first = _running(task)
    Task.objects.filter(pk=task.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert maintenance.rescue_expired() == 1
    second = _running(task)
    assert second.attempts == 2 and second.run == first.run + 1
    assert outcomes.write([outcomes.succeeded(first, "zombie")], fence=Q(worker="w1")) == 0
    task.refresh_from_db()
    assert task.status == Status.RUNNING and task.result is None
    assert outcomes.write([outcomes.succeeded(second, "rerun")], fence=Q(worker="w1")) == 1


def test_a_cancel_that_arrives_after_a_successful_return_comes_too_late(tenant):
    from jobs.models import Event

    task = _running(enqueue("noop", tenant=tenant))
    Task.objects.filter(pk=task.pk).update(cancel_requested=True)
    assert outcomes.write([outcomes.succeeded(task, "done")], fence=Q(worker="w1")) == 1
    task.refresh_from_db()
    assert (task.status, task.result, task.cancel_requested) == (Status.COMPLETED, "done", False)
    last = Event.objects.filter(tenant=tenant).order_by("-id").first()
    assert last is not None
    assert last.changes[-1]["event"] == "task.completed" and last.changes[-1]["cancel_too_late"] is True


def test_a_cancel_still_wins_over_a_failed_or_retrying_run(tenant):
    retrying = _running(enqueue("noop", tenant=tenant, max_retries=3))
    failing = _running(enqueue("noop", tenant=tenant, max_retries=0))
    Task.objects.filter(pk__in=[retrying.pk, failing.pk]).update(cancel_requested=True)
    batch = [outcomes.failed(t, RuntimeError("x"), worker="w1") for t in (retrying, failing)]
    assert [o.status for o in batch] == [Status.SCHEDULED, Status.FAILED]
    assert outcomes.write(batch, fence=Q(worker="w1")) == 2
    assert set(Task.objects.filter(pk__in=[retrying.pk, failing.pk]).values_list("status", flat=True)) == {
        Status.CANCELLED}
