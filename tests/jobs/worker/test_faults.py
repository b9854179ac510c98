"""Faults in a running worker: a run whose lease was taken stops (only the current run lands);
timeouts and crash loops never cost capacity for good; a row the database refuses never wedges
the completer."""

import logging
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from jobs.lifecycle import Status
from jobs.models import Task
from jobs.services import maintenance
from jobs.services.enqueue import enqueue
from jobs.store import finish, rescue, transitions
from jobs.worker.completer import Completer
from tests.support.refusals import ANY_END, locked_elsewhere, refused
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_rescued_run_reclaimed_by_the_same_process_is_stopped_and_only_the_new_run_lands(
        tenant, inprocess_worker, caplog):
    caplog.set_level(logging.WARNING, logger="jobs.worker.heartbeat")
    task = enqueue("sleep", tenant=tenant, payload={"seconds": 3})
    inprocess_worker.start(threads=2)
    wait_for(lambda: Task.objects.filter(pk=task.pk, status=Status.RUNNING, run=1, started_at__isnull=False).exists(),
             what="the first run's recorded start")
    # The process stalls past its lease (a VM pause, a long GC): another instance rescues the task…
    assert rescue.rescue(Task.objects.running().filter(pk=task.pk), reason="worker {worker} stalled", batch=10) == 1
    # …and this very process claims it again while its first run is still sleeping.
    wait_for(lambda: Task.objects.filter(pk=task.pk, status=Status.RUNNING, run=2).exists(), what="the re-claim")
    wait_for(lambda: "lost the lease" in caplog.text, timeout=20, what="the heartbeat to notice the lost lease")
    wait_for(lambda: Task.objects.get(pk=task.pk).status == Status.COMPLETED, timeout=30, what="the second run")
    task.refresh_from_db()
    assert (task.run, task.attempts) == (2, 2)
    # The first run was cancelled by its heartbeat and its outcome fenced off: the result is the second run's.
    assert task.result == {"slept": 3.0, "cancelled": False}
    assert [e["type"] for e in task.errors] == ["WorkerLost"]
    assert inprocess_worker.runtime is not None and inprocess_worker.runtime.pool.held_runs() == []


def test_timeouts_of_handlers_that_stop_when_told_never_recycle_the_process(tenant, inprocess_worker, settings):
    settings.JOBS = {**settings.JOBS, "MAX_ABANDONED_THREADS": 2}
    # ``sleep`` wakes on cancellation: each timed-out thread ends at once, so nothing stays abandoned.
    tasks = [enqueue("sleep", tenant=tenant, payload={"seconds": 60}, timeout_seconds=1, max_retries=0)
             for _ in range(3)]
    runtime = inprocess_worker.start(threads=1)
    wait_for(lambda: Task.objects.filter(pk__in=[t.pk for t in tasks], status=Status.FAILED).count() == 3,
             timeout=30, what="three timeouts")
    assert all(t.errors[-1]["type"] == "TaskTimeout" for t in Task.objects.filter(pk__in=[t.pk for t in tasks]))
    assert runtime.pool.abandoned_alive() == 0
    assert not runtime.stopping.is_set() and runtime.exit_code == 0, "three timeouts > 2 allowed, yet no recycle"


def test_replacing_worker_processes_backs_off_in_a_crash_or_recycle_loop() -> None:
    from jobs.worker.supervisor import restart_delay

    assert [restart_delay(n) for n in range(1, 6)] == [0.0] * 5
    assert [restart_delay(n) for n in (6, 7, 8, 20)] == [2.0, 4.0, 8.0, 30.0]


def test_a_runs_start_is_recorded_while_it_runs_and_started_at_is_the_handlers_start(tenant, inprocess_worker):
    task = enqueue("sleep", tenant=tenant, payload={"seconds": 2})
    inprocess_worker.start(threads=1)
    wait_for(lambda: Task.objects.filter(pk=task.pk, status=Status.RUNNING, started_at__isnull=False).exists(),
             timeout=5, what="the batched start record")
    task.refresh_from_db()
    assert task.attempts == 1 and task.run == 1
    started = task.started_at
    wait_for(lambda: Task.objects.get(pk=task.pk).status == Status.COMPLETED, timeout=10, what="the run")
    task.refresh_from_db()
    # The outcome repeats the same start: one attempt, and the execution time is the handler's.
    assert task.attempts == 1 and task.started_at == started
    assert task.execution_time is not None and task.execution_time.total_seconds() >= 2


def _claimed(tenant, n: int) -> list[Task]:
    for _ in range(n):
        enqueue("noop", tenant=tenant)
    return sorted(transitions.claim(worker="w1", asks={tenant.pk: n}, queues=None, lease_seconds=60),
                  key=lambda t: t.pk)


def test_the_completer_isolates_refused_rows_and_keeps_nothing_unwritten(tenant):
    tasks = _claimed(tenant, 4)
    completer = Completer(worker_id="w1")
    with refused(tasks[1].pk), refused(tasks[3].pk, ANY_END):
        for task in tasks:
            completer.add(finish.succeeded(task, task.pk))
        completer.flush()  # no error: nothing to retry
        assert completer.unwritten_runs() == [], "the refused runs are not retried forever"
    statuses = dict(Task.objects.values_list("pk", "status"))
    assert [statuses[t.pk] for t in tasks] == [Status.COMPLETED, Status.FAILED, Status.COMPLETED, Status.RUNNING]
    assert Task.objects.get(pk=tasks[1].pk).errors[0]["type"] == "UnwritableOutcome"
    assert completer.written == 3
    # The skipped run is no longer renewed: its lease lapses and the rescue (which the database now takes) re-runs it.
    Task.objects.filter(pk=tasks[3].pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert maintenance.rescue_expired() == 1 and Task.objects.get(pk=tasks[3].pk).status == Status.PENDING


def test_the_completer_still_retries_a_whole_batch_when_the_database_is_busy(tenant):
    tasks = _claimed(tenant, 3)
    completer = Completer(worker_id="w1")
    for task in tasks:
        completer.add(finish.succeeded(task, "ok"))
    with locked_elsewhere(tasks[0].pk), pytest.raises(OperationalError):
        completer.flush()
    assert sorted(completer.unwritten_runs()) == [(t.pk, t.run) for t in tasks], "all put back for the next round"
    completer.flush()
    assert completer.unwritten_runs() == [] and set(Task.objects.values_list("status", flat=True)) == {
        Status.COMPLETED}


def test_a_worker_finishes_every_task_when_the_database_refuses_one_outcome(tenant, inprocess_worker):
    tasks = [enqueue("noop", tenant=tenant) for _ in range(6)]
    with refused(tasks[2].pk):
        inprocess_worker.burst(threads=2)
    assert inprocess_worker.exit_code == 0
    statuses = dict(Task.objects.values_list("pk", "status"))
    assert statuses == {t.pk: Status.FAILED if t.pk == tasks[2].pk else Status.COMPLETED for t in tasks}
    assert [e["type"] for e in Task.objects.get(pk=tasks[2].pk).errors] == ["UnwritableOutcome"]
