"""The worker runtime, in-process: results, retries, cancel, timeouts, drain, priority, recovery, wake-ups."""

import os
import socket
import time
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from django.utils import timezone

from jobs.lifecycle import Status
from jobs.models import Task, WorkerProcess
from jobs.services import control
from jobs.services.enqueue import enqueue, enqueue_many
from jobs.worker.options import WorkerOptions
from jobs.worker.supervisor import Supervisor
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def log_lines(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def test_burst_runs_every_task_once_and_records_results(tenant, inprocess_worker, tmp_path):
    log = tmp_path / "runs.log"
    tasks = enqueue_many([{"type": "record", "payload": {"log": str(log)}}] * 30, tenant=tenant)
    inprocess_worker.burst(threads=4)
    assert inprocess_worker.exit_code == 0
    done = Task.objects.filter(pk__in=[e.task.pk for e in tasks])
    assert {t.status for t in done} == {Status.COMPLETED}
    for task in done:
        assert task.attempts == 1
        assert task.result == {"task": task.pk, "attempt": 1}
        assert task.started_at and task.finished_at and task.finished_at >= task.started_at
        assert task.worker == inprocess_worker.runtime.worker_id
        assert task.lease_expires_at is None
    starts = [line[1] for line in log_lines(log) if line[0] == "start"]
    assert sorted(starts) == sorted(str(e.task.pk) for e in tasks)  # each ran exactly once
    assert not WorkerProcess.objects.exists(), "a stopped worker removes its registry row"


def test_failing_task_retries_with_backoff_then_dead_letters_then_requeues(tenant, inprocess_worker):
    task = enqueue("fail", tenant=tenant, max_retries=2, payload={"message": "boom"})
    inprocess_worker.burst(threads=2)
    task.refresh_from_db()
    assert task.status == Status.FAILED
    assert task.attempts == 3
    assert [e["attempt"] for e in task.errors] == [1, 2, 3]
    assert {e["type"] for e in task.errors} == {"DemoFailure"}
    assert all(e["message"] == "boom" and e["worker"] for e in task.errors)
    assert "Traceback" in task.errors[0]["traceback"]
    assert task.finished_at is not None
    # Retries waited for their backoff (through `scheduled`), never ran back to back.
    times = [datetime.fromisoformat(e["at"]) for e in task.errors]
    assert all((b - a).total_seconds() >= 0.05 * 0.75 for a, b in pairwise(times))

    control.requeue(task.pk)
    task.refresh_from_db()
    assert (task.status, task.attempts) == (Status.PENDING, 0)
    inprocess_worker.burst(threads=2)
    task.refresh_from_db()
    assert task.status == Status.FAILED
    assert len(task.errors) == 6, "requeue keeps the history of earlier attempts"


def test_flaky_task_succeeds_on_a_later_attempt(tenant, inprocess_worker):
    task = enqueue("flaky", tenant=tenant, payload={"fail_times": 2})
    inprocess_worker.burst()
    task.refresh_from_db()
    assert (task.status, task.attempts, task.result) == (Status.COMPLETED, 3, "ok")
    assert [e["attempt"] for e in task.errors] == [1, 2]


def test_exceptions_outside_the_types_retry_list_dead_letter_at_once(tenant, inprocess_worker):
    bad = enqueue("picky", tenant=tenant)
    retryable = enqueue("picky", tenant=tenant, payload={"retryable": True}, max_retries=1)
    permanent = enqueue("fail", tenant=tenant, payload={"permanent": True})
    inprocess_worker.burst()
    for task in (bad, retryable, permanent):
        task.refresh_from_db()
        assert task.status == Status.FAILED
    assert (bad.attempts, bad.errors[0]["type"]) == (1, "NotWorthRetrying")
    assert retryable.attempts == 2
    assert (permanent.attempts, permanent.errors[0]["type"]) == (1, "PermanentError")


def test_cancelled_pending_task_never_runs(tenant, inprocess_worker, tmp_path):
    log = tmp_path / "runs.log"
    task = enqueue("record", tenant=tenant, payload={"log": str(log)})
    assert control.cancel(task.pk).status == Status.CANCELLED
    inprocess_worker.burst()
    task.refresh_from_db()
    assert task.status == Status.CANCELLED and task.attempts == 0
    assert not log.exists()


def test_cancel_of_running_task_is_seen_by_handler_and_wins_over_its_result(tenant, inprocess_worker, tmp_path):
    log = tmp_path / "runs.log"
    task = enqueue("cooperative", tenant=tenant, payload={"log": str(log), "seconds": 60})
    inprocess_worker.start(threads=2)
    wait_for(lambda: log_lines(log), what="the task to start")
    requested = control.cancel(task.pk)
    assert requested.status == Status.RUNNING and requested.cancel_requested
    wait_for(lambda: Task.objects.get(pk=task.pk).status == Status.CANCELLED, timeout=20, what="cancellation")
    task.refresh_from_db()
    # The handler returned normally, yet the task ends cancelled.
    assert task.result == "saw cancellation"
    assert task.finished_at is not None
    with pytest.raises(Exception, match="cannot cancel"):
        control.cancel(task.pk)


def test_timeout_fails_the_attempt_frees_the_slot_and_voids_the_late_result(tenant, inprocess_worker, tmp_path):
    slow = enqueue("stubborn", tenant=tenant, payload={"seconds": 3})  # timeout 1 s, no retries
    log = tmp_path / "runs.log"
    inprocess_worker.start(threads=1)
    wait_for(lambda: Task.objects.get(pk=slow.pk).status == Status.RUNNING, what="the slow task to start")
    quick = enqueue("record", tenant=tenant, payload={"log": str(log)})
    # One thread only: the quick task can run only if the timeout gave the slot back.
    wait_for(lambda: Task.objects.get(pk=quick.pk).status == Status.COMPLETED, timeout=20, what="the quick task")
    slow.refresh_from_db()
    assert slow.status == Status.FAILED
    assert slow.errors[-1]["type"] == "TaskTimeout"
    pool = inprocess_worker.runtime.pool
    assert pool.abandoned_alive() == 1, "the stubborn handler still holds its thread"
    time.sleep(3)  # let the abandoned thread finish its sleep: its result must not land
    slow.refresh_from_db()
    assert slow.status == Status.FAILED and slow.result is None
    wait_for(lambda: pool.abandoned_alive() == 0, timeout=10, what="the abandoned thread to end")


def test_graceful_stop_lets_running_tasks_finish(tenant, inprocess_worker, tmp_path):
    log = tmp_path / "runs.log"
    task = enqueue("record", tenant=tenant, payload={"log": str(log), "sleep_ms": 1500})
    waiting = enqueue("record", tenant=tenant, payload={"log": str(log)}, delay_seconds=3600)
    inprocess_worker.start(threads=2, drain_seconds=10)
    wait_for(lambda: log_lines(log), what="the task to start")
    inprocess_worker.stop()
    assert inprocess_worker.exit_code == 0
    task.refresh_from_db()
    assert task.status == Status.COMPLETED and task.attempts == 1
    waiting.refresh_from_db()
    assert waiting.status == Status.SCHEDULED


def test_drain_timeout_releases_unfinished_tasks_without_counting_the_attempt(tenant, inprocess_worker, tmp_path):
    log = tmp_path / "runs.log"
    task = enqueue("record", tenant=tenant, payload={"log": str(log), "sleep_ms": 8000})
    inprocess_worker.start(threads=1, drain_seconds=0.3)
    wait_for(lambda: log_lines(log), what="the task to start")
    inprocess_worker.stop()
    task.refresh_from_db()
    assert task.status == Status.PENDING
    assert task.attempts == 0 and task.errors == [] and task.worker is None
    assert task.interrupted == 1 and task.started_at is None  # counted: past JOBS['MAX_INTERRUPTED'] it is charged


def test_unstarted_claims_are_released_on_stop(tenant, inprocess_worker, tmp_path):
    log = tmp_path / "runs.log"
    enqueue_many([{"type": "record", "payload": {"log": str(log), "sleep_ms": 600}}] * 2, tenant=tenant)
    inprocess_worker.start(threads=2, drain_seconds=10)
    wait_for(lambda: len(log_lines(log)) >= 1, what="tasks to start")
    inprocess_worker.stop()
    assert not Task.objects.filter(status=Status.RUNNING).exists()
    assert set(Task.objects.values_list("status", flat=True)) <= {Status.COMPLETED, Status.PENDING}


def test_priority_five_runs_before_one_then_fifo(tenant, inprocess_worker, tmp_path):
    log = tmp_path / "runs.log"
    specs = [{"type": "record", "priority": p, "payload": {"log": str(log)}} for p in (1, 3, 5, 1, 5, 3, 2)]
    created = [e.task for e in enqueue_many(specs, tenant=tenant)]
    inprocess_worker.burst(threads=1)
    started = [int(line[1]) for line in log_lines(log) if line[0] == "start"]
    expected = [t.pk for t in sorted(created, key=lambda t: (-t.priority, t.pk))]
    assert started == expected


def test_startup_recovery_rescues_tasks_of_this_hosts_dead_workers(tenant):
    dead_pid = 4_000_000  # above pid_max: never alive
    long_ago = timezone.now() - timedelta(minutes=1)
    WorkerProcess.objects.create(id="host:dead:1", instance="host", hostname=socket.gethostname(),
                                 pid=dead_pid, threads=1, last_heartbeat=long_ago)
    WorkerProcess.objects.create(id="host:alive:1", instance="host", hostname=socket.gethostname(),
                                 pid=os.getpid(), threads=1, last_heartbeat=long_ago)
    # Same hostname, a pid this host does not have, a fresh heartbeat: another container's live process.
    WorkerProcess.objects.create(id="host:neighbour:1", instance="host", hostname=socket.gethostname(),
                                 pid=dead_pid, threads=1)
    future = timezone.now() + timedelta(minutes=5)
    lost = enqueue("noop", tenant=tenant)
    kept = enqueue("noop", tenant=tenant)
    neighbours = enqueue("noop", tenant=tenant)
    for task, worker in ((lost, "host:dead:1"), (kept, "host:alive:1"), (neighbours, "host:neighbour:1")):
        Task.objects.filter(pk=task.pk).update(status=Status.RUNNING, worker=worker, attempts=1,
                                               started_at=timezone.now(), lease_expires_at=future)
    Supervisor(processes=1, options=WorkerOptions()).recover_host()
    lost.refresh_from_db()
    kept.refresh_from_db()
    neighbours.refresh_from_db()
    assert lost.status == Status.PENDING and lost.attempts == 1
    assert lost.errors[-1]["type"] == "WorkerLost" and lost.errors[-1]["worker"] == "host:dead:1"
    assert kept.status == Status.RUNNING, "a live process keeps its tasks"
    assert neighbours.status == Status.RUNNING, "a hostname alone is not a verdict: its heartbeat is fresh"
    assert sorted(WorkerProcess.objects.values_list("id", flat=True)) == ["host:alive:1", "host:neighbour:1"]


def test_an_idle_worker_wakes_on_enqueue_not_at_its_poll_interval(tenant, inprocess_worker, settings):
    settings.JOBS = {**settings.JOBS, "POLL_SECONDS": 30.0}
    inprocess_worker.start(threads=1)
    inprocess_worker.runtime.listener.ready.wait(5)
    time.sleep(0.5)  # let the dispatcher go idle on its (30 s) poll wait
    task = enqueue("noop", tenant=tenant)
    # Far inside the 30 s poll interval: only the wake-up can have started it.
    wait_for(lambda: Task.objects.get(pk=task.pk).status == Status.COMPLETED, timeout=10, what="the wake-up")


def test_a_reaped_live_worker_registers_itself_again(tenant, inprocess_worker):
    # After a database outage longer than a lease, another instance may reap a live process's row.
    runtime = inprocess_worker.start(threads=1)
    wait_for(lambda: WorkerProcess.objects.filter(pk=runtime.worker_id).exists(), what="registration")
    WorkerProcess.objects.filter(pk=runtime.worker_id).delete()
    wait_for(lambda: WorkerProcess.objects.filter(pk=runtime.worker_id).exists(), timeout=15,
             what="the heartbeat to re-register the process")


def test_finished_runs_feed_the_cost_table_and_true_up_their_charges(tenant, other_tenant, inprocess_worker):
    enqueue_many([{"type": "record", "payload": {"sleep_ms": 30}}] * 6, tenant=tenant)
    enqueue_many([{"type": "noop"}] * 6, tenant=other_tenant)
    runtime = inprocess_worker.burst(threads=2)
    costs = runtime.costs
    assert costs is not None and set(costs.average) == {"record", "noop"}
    assert 25_000 < costs.cost("record") < 1_000_000  # ~30 ms (µs), whatever the host's load
    assert costs.cost("noop") < costs.cost("record")
    drr = runtime.dispatcher.drr
    drr.plan([], 0)  # the dispatcher's next plan: the finished runs' real times replace their estimates
    assert not drr.charges and not costs.done


def test_a_database_error_in_the_pause_check_before_a_run_neither_kills_the_thread_nor_strands_the_run(
        tenant, inprocess_worker, monkeypatch):
    """The executor asks the pauses before a claimed run starts; the database may be restarting then."""
    from django.db import InterfaceError

    import jobs.worker.runtime as runtime_module

    class Unreachable:
        @staticmethod
        def current():
            raise InterfaceError("(0, '') the server is restarting")

    monkeypatch.setattr(runtime_module, "pauses", Unreachable)
    enqueue_many([{"type": "noop"}] * 12, tenant=tenant)
    inprocess_worker.burst(timeout=30, threads=2)
    assert inprocess_worker.exit_code == 0
    assert set(Task.objects.values_list("status", flat=True)) == {Status.COMPLETED}
