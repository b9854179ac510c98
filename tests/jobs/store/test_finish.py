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
    Task.objects.filter(pk=retry.pk).update(status=Status.RUNNING, worker="w1", attempts=1, lease_expires_at=past)
    Task.objects.filter(pk=exhausted.pk).update(status=Status.RUNNING, worker="w1", attempts=2,
                                                lease_expires_at=past)
    Task.objects.filter(pk=fresh.pk).update(status=Status.RUNNING, worker="w2", attempts=1,
                                            lease_expires_at=timezone.now() + timedelta(minutes=1))
    assert maintenance.rescue_expired() == 2
    statuses = dict(Task.objects.values_list("pk", "status"))
    assert statuses == {retry.pk: Status.PENDING, exhausted.pk: Status.FAILED, fresh.pk: Status.RUNNING}


def test_completion_writes_are_fenced_against_stale_attempts_and_cancellation(tenant):
    task = enqueue("noop", tenant=tenant)
    Task.objects.filter(pk=task.pk).update(status=Status.RUNNING, worker="w1", attempts=2)
    task.refresh_from_db()
    stale = outcomes.Outcome(task.pk, 1, Status.COMPLETED, {"status": Status.COMPLETED, "result": "stale"})
    assert outcomes.write([stale], fence=Q(worker="w1")) == 0
    other_worker = outcomes.succeeded(task, "zombie")
    assert outcomes.write([other_worker], fence=Q(worker="w0")) == 0
    Task.objects.filter(pk=task.pk).update(cancel_requested=True)
    assert outcomes.write([outcomes.succeeded(task, "late")], fence=Q(worker="w1")) == 1
    task.refresh_from_db()
    assert task.status == Status.CANCELLED and task.finished_at is not None
    # A finished task can never be overwritten.
    assert outcomes.write([outcomes.succeeded(task, "again")], fence=Q(worker="w1")) == 0
