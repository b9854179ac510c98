"""Housekeeping (jobs.services.maintenance): promotion of due tasks, pruning of tasks, events and rollups."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.lifecycle import Status
from jobs.models import Task
from jobs.services import maintenance
from jobs.services.enqueue import enqueue, enqueue_many

pytestmark = pytest.mark.django_db(transaction=True)


def test_due_scheduled_tasks_are_promoted(tenant):
    due = enqueue("noop", tenant=tenant, delay_seconds=60)
    later = enqueue("noop", tenant=tenant, delay_seconds=3600)
    Task.objects.filter(pk=due.pk).update(run_at=timezone.now() - timedelta(seconds=1))
    assert maintenance.promote_due() == 1
    assert Task.objects.get(pk=due.pk).status == Status.PENDING
    assert Task.objects.get(pk=later.pk).status == Status.SCHEDULED


def test_prune_deletes_only_old_finished_tasks_in_batches(tenant):
    old = timezone.now() - timedelta(days=30)
    created = [e.task for e in enqueue_many([{"type": "noop"}] * 7, tenant=tenant)]
    for task, status in zip(created, [Status.COMPLETED] * 3 + [Status.FAILED, Status.CANCELLED, Status.PENDING,
                                                              Status.COMPLETED], strict=True):
        Task.objects.filter(pk=task.pk).update(status=status, finished_at=old if status != Status.PENDING else None)
    Task.objects.filter(pk=created[-1].pk).update(finished_at=timezone.now())  # recent: kept
    assert maintenance.prune(older_than_seconds=86400, batch=2) == 5
    assert set(Task.objects.values_list("pk", flat=True)) == {created[5].pk, created[6].pk}
    assert maintenance.prune(older_than_seconds=86400, batch=2) == 0


def test_old_events_and_throughput_buckets_are_pruned(tenant, settings):
    from jobs.models import Event, ThroughputBucket

    settings.JOBS = {**settings.JOBS, "EVENT_RETENTION_SECONDS": 60}
    old = timezone.now() - timedelta(hours=2)
    Event.objects.create(tenant=tenant, changes=[], created_at=old)
    recent = Event.objects.create(tenant=tenant, changes=[])
    ThroughputBucket.objects.create(tenant=tenant, bucket=timezone.now() - timedelta(days=2), completed=1)
    kept_bucket = ThroughputBucket.objects.create(tenant=tenant, bucket=timezone.now(), completed=1)
    assert maintenance.prune_side_tables() == 2
    assert list(Event.objects.values_list("pk", flat=True)) == [recent.pk]
    assert list(ThroughputBucket.objects.values_list("pk", flat=True)) == [kept_bucket.pk]
