"""An attempt is charged when a run starts, not when it is claimed (issue 10, item 3); drains
hand runs back uncharged a bounded number of times (item 6); ``max_lost`` per task (item 4)."""

from datetime import timedelta

import pytest
from django.db.models import Q
from django.utils import timezone

from jobs.lifecycle import Status
from jobs.models import Task
from jobs.services import control
from jobs.services.enqueue import enqueue
from jobs.store import finish, rescue, transitions
from tests.support.builders import claim

pytestmark = pytest.mark.django_db(transaction=True)


def _rescue(task: Task) -> Task:
    assert rescue.rescue(Task.objects.filter(pk=task.pk), reason="worker {worker} died", batch=10) == 1
    task.refresh_from_db()
    return task


def test_a_claim_charges_nothing_until_the_run_starts(tenant):
    task = enqueue("noop", tenant=tenant)
    claimed = claim(task, start=False)
    task.refresh_from_db()
    assert (task.status, task.run, task.attempts, task.started_at) == (Status.RUNNING, 1, 0, None)
    at = timezone.now()
    assert transitions.mark_started(worker="w1", starts=[(task.pk, claimed.run, at)]) == 1
    # Once per run, whichever writer comes second; never for another worker or an older run.
    assert transitions.mark_started(worker="w1", starts=[(task.pk, claimed.run, at)]) == 0
    assert transitions.mark_started(worker="w2", starts=[(task.pk, claimed.run, at)]) == 0
    task.refresh_from_db()
    assert task.attempts == 1 and abs(task.started_at - at) < timedelta(milliseconds=1)


def test_an_outcome_records_its_runs_start_when_the_batched_record_has_not_landed(tenant):
    task = enqueue("noop", tenant=tenant)
    run = claim(task, record=False)
    assert Task.objects.get(pk=task.pk).attempts == 0
    assert finish.write([finish.started(finish.succeeded(run, 7), run)], fence=Q(worker="w1")) == 1
    task.refresh_from_db()
    assert (task.status, task.attempts, task.result) == (Status.COMPLETED, 1, 7)
    assert task.started_at == run.started_at and task.queue_wait is not None


def test_a_prefetched_claim_rescued_before_it_started_is_returned_uncharged(tenant):
    task = enqueue("noop", tenant=tenant, max_retries=0, max_lost=0)
    claim(task, start=False)
    task = _rescue(task)
    # Even with no retry and no lost run allowed, a run that never began costs nothing.
    assert (task.status, task.attempts, task.lost, task.returned, task.errors) == (Status.PENDING, 0, 0, 1, [])
    assert task.worker is None and task.lease_expires_at is None


def test_a_started_run_rescued_is_lost_and_a_tasks_own_max_lost_decides(tenant):
    spared = enqueue("noop", tenant=tenant, max_retries=0)
    strict = enqueue("noop", tenant=tenant, max_lost=0)
    for task in (spared, strict):
        claim(task)
    spared, strict = _rescue(spared), _rescue(strict)
    assert (spared.status, spared.lost, spared.attempts) == (Status.PENDING, 1, 1)
    assert [e["type"] for e in spared.errors] == ["WorkerLost"]
    assert (strict.status, strict.lost) == (Status.FAILED, 1)


def test_max_lost_is_validated_at_enqueue(tenant):
    from jobs.exceptions import InvalidTask

    for bad in (-1, 101, "3", 1.5):
        with pytest.raises(InvalidTask) as err:
            enqueue("noop", tenant=tenant, max_lost=bad)
        assert err.value.field == "max_lost"
    assert enqueue("noop", tenant=tenant).max_lost is None  # the type's or the conf's, read at run time


def test_drain_hands_back_unstarted_and_started_runs_uncharged_up_to_the_bound(tenant, settings):
    settings.JOBS = {**settings.JOBS, "MAX_INTERRUPTED": 2}
    long = enqueue("noop", tenant=tenant, max_retries=5)
    for n in (1, 2):
        run = claim(long)
        assert transitions.release(worker="w1", runs=[], started=(run,)) == 1
        long.refresh_from_db()
        assert (long.status, long.attempts, long.interrupted, long.errors) == (Status.PENDING, 0, n, [])
    # The third cut-off run is charged: a failed attempt, retried with back-off like any other.
    run = claim(long)
    assert transitions.release(worker="w1", runs=[], started=(run,)) == 1
    long.refresh_from_db()
    assert (long.status, long.attempts, long.interrupted) == (Status.SCHEDULED, 1, 3)
    assert [e["type"] for e in long.errors] == ["Interrupted"]
    unstarted = claim(enqueue("noop", tenant=tenant), start=False)
    assert transitions.release(worker="w1", runs=[(unstarted.pk, unstarted.run)]) == 1
    unstarted.refresh_from_db()
    assert (unstarted.status, unstarted.attempts, unstarted.interrupted) == (Status.PENDING, 0, 0)


def test_a_task_cut_off_by_drains_with_no_retries_left_is_dead_lettered(tenant, settings):
    settings.JOBS = {**settings.JOBS, "MAX_INTERRUPTED": 0}
    task = enqueue("noop", tenant=tenant, max_retries=0)
    assert transitions.release(worker="w1", runs=[], started=(claim(task),)) == 1
    task.refresh_from_db()
    assert (task.status, task.attempts, task.interrupted) == (Status.FAILED, 1, 1)


def test_release_is_fenced_on_the_run(tenant):
    task = enqueue("noop", tenant=tenant)
    old = claim(task)
    new = claim(task)  # rescued and claimed again meanwhile
    assert transitions.release(worker="w1", runs=[], started=(old,)) == 0
    assert Task.objects.get(pk=task.pk).run == new.run


def test_a_requeue_resets_the_lost_returned_and_interrupted_counts(tenant):
    task = enqueue("noop", tenant=tenant, max_lost=0)
    claim(task)
    task = _rescue(task)
    assert task.status == Status.FAILED
    Task.objects.filter(pk=task.pk).update(returned=2, interrupted=1)
    control.requeue(task.pk)
    task.refresh_from_db()
    assert (task.status, task.attempts, task.lost, task.returned, task.interrupted) == (Status.PENDING, 0, 0, 0, 0)
