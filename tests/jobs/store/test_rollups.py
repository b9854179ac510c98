"""The analytics rollups (jobs.store.rollups) as the real transitions write them: queue wait from the
attempt's due time, failed attempts apart from dead-lettered tasks, and requeues taken back everywhere."""

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db.models import Sum
from django.utils import timezone

from jobs.lifecycle import Status
from jobs.models import Task, TaskStat, ThroughputBucket
from jobs.models.stats import AttemptStat, queue_wait
from jobs.services import analytics, control, maintenance
from jobs.services.enqueue import enqueue
from jobs.store import finish, transitions
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


def sums(model: Any, tenant: Tenant, *columns: str, **filters: Any) -> tuple[int, ...]:
    row = model.objects.filter(tenant=tenant, **filters).aggregate(**{c: Sum(c) for c in columns})
    return tuple(row[c] or 0 for c in columns)


def run(task: Task, *, due: datetime, waited_ms: int, outcome: str = "ok") -> Task:
    """Make ``task`` due at ``due``, claim it, start its handler ``waited_ms`` after that, and end the run."""
    Task.objects.filter(pk=task.pk).update(status=Status.PENDING, run_at=due)
    (claimed,) = transitions.claim(worker="w1", asks={task.tenant_id: 1}, queues=None, lease_seconds=60)
    claimed.attempts += 1
    claimed.started_at = due + timedelta(milliseconds=waited_ms)
    assert transitions.mark_started(worker="w1", starts=[(claimed.pk, claimed.run, claimed.started_at)]) == 1
    end = (finish.succeeded(claimed, {"ok": True}) if outcome == "ok"
           else finish.failed(claimed, RuntimeError("boom"), worker="w1"))
    assert finish.write([end]) == 1
    claimed.refresh_from_db()
    return claimed


def test_queue_wait_runs_from_when_the_attempt_was_due() -> None:
    created = timezone.now()
    assert queue_wait(created, created + timedelta(minutes=10), created + timedelta(minutes=10, seconds=1)) \
        == timedelta(seconds=1)
    assert queue_wait(created, None, created + timedelta(seconds=3)) == timedelta(seconds=3)
    assert queue_wait(created, created - timedelta(hours=1), created + timedelta(seconds=2)) == timedelta(seconds=2)
    # Two clocks a few ms apart: never a negative wait.
    assert queue_wait(created, created + timedelta(milliseconds=5), created) == timedelta(0)
    assert queue_wait(created, created, None) is None


def test_a_delayed_task_waits_from_its_run_at_not_from_its_creation(tenant: Tenant) -> None:
    task = enqueue("noop", tenant=tenant, delay_seconds=600)
    # It was submitted ten minutes before it came due, and was picked up 56 ms after.
    Task.objects.filter(pk=task.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    run(task, due=timezone.now() - timedelta(seconds=1), waited_ms=56)
    assert sums(TaskStat, tenant, "count", "timed", "wait_ms_sum", status=Status.COMPLETED) == (1, 1, 56)
    assert sums(ThroughputBucket, tenant, "completed", "timed", "wait_ms_sum") == (1, 1, 56)
    overview = analytics.overview([tenant.pk])
    assert overview["avg_queue_wait_ms"] == 56.0 and overview["p95_queue_wait_ms"] == 56.0
    assert overview["window"]["avg_queue_wait_ms"] == 56.0 and overview["window"]["p95_queue_wait_ms"] == 56.0
    assert analytics.by_type([tenant.pk])[0]["avg_queue_wait_ms"] == 56.0


def test_a_retried_task_waits_from_its_last_attempts_due_time_and_its_failed_attempt_counts(tenant: Tenant) -> None:
    task = enqueue("fail", tenant=tenant, max_retries=2)
    Task.objects.filter(pk=task.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    first = run(task, due=timezone.now() - timedelta(minutes=10), waited_ms=1400, outcome="fail")
    assert first.status == Status.SCHEDULED and first.run_at > first.started_at  # the back-off
    # Retried: one failed attempt, no finished task yet.
    assert sums(AttemptStat, tenant, "attempts", "failed_attempts") == (1, 1)
    assert sums(ThroughputBucket, tenant, "attempts", "failed_attempts", "failed") == (1, 1, 0)
    assert not TaskStat.objects.filter(tenant=tenant).exists()
    # The back-off is over: the second attempt, due then, starts 200 ms later and completes.
    second = run(first, due=timezone.now() - timedelta(seconds=5), waited_ms=200)
    assert second.status == Status.COMPLETED
    assert sums(TaskStat, tenant, "count", "timed", "wait_ms_sum", status=Status.COMPLETED) == (1, 1, 200)
    assert sums(AttemptStat, tenant, "attempts", "failed_attempts") == (2, 1)
    assert sums(ThroughputBucket, tenant, "completed", "attempts", "failed_attempts") == (1, 2, 1)
    (row,) = analytics.by_type([tenant.pk])
    assert (row["attempts"], row["failed_attempts"], row["attempt_failure_rate"]) == (2, 1, 0.5)
    assert (row["dead_letter_rate"], row["failure_rate"], row["avg_queue_wait_ms"]) == (0.0, 0.0, 200.0)


def test_requeue_takes_a_dead_lettered_task_out_of_every_rollup_but_not_its_failed_attempt(tenant: Tenant) -> None:
    task = enqueue("fail", tenant=tenant, max_retries=0)
    Task.objects.filter(pk=task.pk).update(created_at=timezone.now() - timedelta(minutes=1))
    dead = run(task, due=timezone.now() - timedelta(seconds=2), waited_ms=300, outcome="fail")
    assert dead.status == Status.FAILED
    assert sums(TaskStat, tenant, "count", "timed", "wait_ms_sum", status=Status.FAILED) == (1, 1, 300)
    assert sums(ThroughputBucket, tenant, "failed", "timed", "wait_ms_sum", "failed_attempts") == (1, 1, 300, 1)
    before = analytics.overview([tenant.pk])
    assert (before["by_status"]["failed"], before["window"]["failed"], before["dead_letter_rate"]) == (1, 1, 1.0)
    control.requeue(dead.pk)
    # In the dead letter no more: out of the hourly rollup and the throughput buckets alike, timings too.
    assert sums(TaskStat, tenant, "count", "timed", "wait_ms_sum", "exec_ms_sum") == (0, 0, 0, 0)
    assert sums(ThroughputBucket, tenant, "completed", "failed", "cancelled", "timed", "wait_ms_sum") == (0,) * 5
    # The attempt did fail: it stays counted.
    assert sums(AttemptStat, tenant, "attempts", "failed_attempts") == (1, 1)
    after = analytics.overview([tenant.pk])
    assert (after["by_status"]["failed"], after["by_status"]["pending"], after["window"]["failed"]) == (0, 1, 0)
    assert (after["failed_attempts"], after["attempt_failure_rate"], after["window"]["failed_attempts"]) == (1, 1.0, 1)
    assert sum(p["failed"] for p in analytics.throughput([tenant.pk], window=300, bucket=10)) == 0


def test_requeue_of_a_task_cancelled_while_waiting_for_its_retry_takes_back_only_what_was_added(
        tenant: Tenant) -> None:
    task = enqueue("fail", tenant=tenant, max_retries=3)
    Task.objects.filter(pk=task.pk).update(created_at=timezone.now() - timedelta(minutes=1))
    retrying = run(task, due=timezone.now() - timedelta(seconds=2), waited_ms=100, outcome="fail")
    assert retrying.status == Status.SCHEDULED and retrying.started_at is not None
    control.cancel(retrying.pk)
    assert sums(TaskStat, tenant, "count", "timed", status=Status.CANCELLED) == (1, 0)  # it was not running
    control.requeue(retrying.pk)
    assert sums(TaskStat, tenant, "count", "timed", "exec_ms_sum", "wait_ms_sum") == (0, 0, 0, 0)
    assert sums(AttemptStat, tenant, "attempts", "failed_attempts") == (1, 1)


def test_a_run_lost_with_its_worker_is_a_failed_attempt_and_a_snooze_is_none(tenant: Tenant) -> None:
    lost = enqueue("noop", tenant=tenant)
    past = timezone.now() - timedelta(seconds=5)
    Task.objects.filter(pk=lost.pk).update(status=Status.RUNNING, worker="w9", attempts=1, run=1, started_at=past,
                                           lease_expires_at=past)
    assert maintenance.rescue_expired() == 1
    assert sums(AttemptStat, tenant, "attempts", "failed_attempts") == (1, 1)
    snoozing = enqueue("noop", tenant=tenant)
    Task.objects.filter(pk=lost.pk).update(status=Status.CANCELLED, finished_at=timezone.now())
    Task.objects.filter(pk=snoozing.pk).update(status=Status.PENDING)
    (claimed,) = transitions.claim(worker="w1", asks={tenant.pk: 1}, queues=None, lease_seconds=60)
    claimed.attempts += 1
    claimed.started_at = timezone.now()
    assert finish.write([finish.started(finish.snoozed(claimed, 60), claimed)]) == 1
    assert sums(AttemptStat, tenant, "attempts", "failed_attempts") == (1, 1)  # the snooze gave its attempt back


def test_a_run_cancelled_mid_way_is_an_attempt_that_did_not_fail(tenant: Tenant) -> None:
    task = enqueue("fail", tenant=tenant, max_retries=3)
    Task.objects.filter(pk=task.pk).update(created_at=timezone.now() - timedelta(minutes=1))
    Task.objects.filter(pk=task.pk).update(status=Status.PENDING, run_at=timezone.now() - timedelta(seconds=3))
    (claimed,) = transitions.claim(worker="w1", asks={tenant.pk: 1}, queues=None, lease_seconds=60)
    claimed.attempts += 1
    claimed.started_at = claimed.run_at + timedelta(milliseconds=40)
    assert control.cancel(claimed.pk).status == Status.RUNNING  # asked to stop; the run's end decides
    # The handler raised anyway: the cancellation wins over the retry.
    assert finish.write([finish.started(finish.failed(claimed, RuntimeError("boom"), worker="w1"), claimed)]) == 1
    assert Task.objects.get(pk=task.pk).status == Status.CANCELLED
    assert sums(AttemptStat, tenant, "attempts", "failed_attempts") == (1, 0)
    assert sums(TaskStat, tenant, "count", "timed", "wait_ms_sum", status=Status.CANCELLED) == (1, 1, 40)
