"""Real worker processes (``manage.py runworkers``) against MariaDB + Redis."""

import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db.models import Count

from jobs.lifecycle import FINISHED, Status
from jobs.models import Event, Task, WorkerProcess
from jobs.services.enqueue import enqueue, enqueue_many
from tenants.models import Tenant
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.mariadb, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def enqueue_records(tenant, n: int, log: Path, *, spec: dict | None = None, **payload) -> list[int]:
    ids = []
    for start in range(0, n, 1000):
        one = {"type": "record", "payload": {"log": str(log), **payload}, **(spec or {})}
        batch = enqueue_many([one] * min(1000, n - start), tenant=tenant)
        ids.extend(e.task.pk for e in batch)
    return ids


def starts(log: Path) -> Counter:
    return Counter(int(line.split()[1]) for line in log.read_text().splitlines() if line.startswith("start"))


def status_counts() -> dict[str, int]:
    return dict(Task.objects.values_list("status").annotate(n=Count("id")).order_by())


def test_three_processes_drain_every_task_exactly_once(tenant, workers, tmp_path):
    log = tmp_path / "runs.log"
    ids = enqueue_records(tenant, 3000, log)
    proc = workers.start("--processes", "3", "--threads", "4", "--burst")
    assert proc.wait(timeout=240) == 0, workers.log()
    assert status_counts() == {Status.COMPLETED: 3000}
    assert set(Task.objects.values_list("attempts", flat=True)) == {1}
    runs = starts(log)
    assert set(runs) == set(ids)
    assert max(runs.values()) == 1, "a task ran twice"
    # All three processes took part.
    assert len(set(Task.objects.values_list("worker", flat=True))) == 3


def test_kill_9_of_a_worker_process_loses_nothing_and_reruns_only_its_tasks(tenant, workers, tmp_path):
    log = tmp_path / "runs.log"
    # No retry at all: a worker's death must cost none (and prefetched tasks never started).
    ids = enqueue_records(tenant, 3000, log, spec={"max_retries": 0}, sleep_ms=5)
    workers.start("--processes", "3", "--threads", "4")
    wait_for(lambda: WorkerProcess.objects.count() == 3, what="three worker processes")
    wait_for(lambda: Task.objects.filter(status=Status.COMPLETED).count() >= 600, what="the drain to get going")
    victim = WorkerProcess.objects.order_by("pid").first()
    held_before = set(Task.objects.filter(worker=victim.pk, status=Status.RUNNING).values_list("pk", flat=True))
    os.kill(victim.pid, signal.SIGKILL)

    wait_for(lambda: Task.objects.filter(status__in=FINISHED).count() == 3000, timeout=180, what="the drain to end")
    assert status_counts() == {Status.COMPLETED: 3000}, "every task completed; none dead-lettered, none lost"
    # The supervisor replaced the dead process.
    wait_for(lambda: WorkerProcess.objects.count() == 3 and victim.pk not in
             set(WorkerProcess.objects.values_list("pk", flat=True)), what="a replacement process")

    runs = starts(log)
    assert set(runs) == set(ids)
    rerun = {task_id for task_id, n in runs.items() if n > 1}
    tasks = list(Task.objects.all())
    lost = {t.pk for t in tasks if any(e.get("worker") == victim.pk for e in t.errors)}
    returned = {t.pk for t in tasks if t.returned}
    assert rerun <= lost | returned, "only tasks the killed process held ran more than once"
    assert lost | returned, "the killed process held tasks (it was mid-drain)"
    # Charged as lost only if its handler really started on the killed process: once there, once again.
    # (Not "at most one per thread": a run whose handler ended but whose outcome the completer had not
    # written yet is lost too, and how many those are depends on the machine's load.)
    assert all(runs[pk] == 2 for pk in lost), {pk: runs[pk] for pk in lost if runs[pk] != 2}
    for task in tasks:
        if task.pk in lost:
            assert (task.attempts, task.lost, task.errors[0]["type"]) == (2, 1, "WorkerLost")
        elif task.pk in returned:
            # Handed back before a start was recorded: no attempt, no error entry.
            assert (task.attempts, task.lost, task.errors) == (1, 0, [])
    assert held_before & (lost | returned) or not held_before


def test_a_task_that_kills_its_worker_is_dead_lettered_after_max_lost_and_innocents_are_untouched(
        tenant, workers, tmp_path):
    log = tmp_path / "runs.log"
    killer = enqueue("crash", tenant=tenant, payload={"log": str(log)}, max_lost=2, priority=5)
    innocents = enqueue_records(tenant, 200, log, sleep_ms=10)
    workers.start("--processes", "1", "--threads", "1")
    wait_for(lambda: Task.objects.get(pk=killer.pk).status == Status.FAILED, timeout=90,
             what="the killer to be dead-lettered")
    wait_for(lambda: Task.objects.filter(pk__in=innocents, status=Status.COMPLETED).count() == 200, timeout=90,
             what="the innocents")
    killer.refresh_from_db()
    # Its first start may not have been recorded before it struck (handed back uncharged, once);
    # every later start is recorded first, so each further crash is a lost run: 3 > max_lost = 2.
    assert killer.lost == 3 and killer.returned <= 1
    assert [e["type"] for e in killer.errors] == ["WorkerLost"] * 3
    assert starts(log)[killer.pk] == 3 + killer.returned
    # The first loss re-runs at once, the second waits (back-off: scheduled), the third dead-letters.
    rescues = [c["status"] for e in Event.objects.order_by("id") for c in e.changes
               if c["task"] == killer.pk and c["event"] in ("task.rescued", "task.failed")]
    assert rescues[-3:] == [Status.PENDING, Status.SCHEDULED, Status.FAILED]
    assert rescues[:-3] == [Status.PENDING] * killer.returned
    assert not Task.objects.filter(pk__in=innocents).exclude(errors=[]).exists()
    assert set(Task.objects.filter(pk__in=innocents).values_list("attempts", "lost")) == {(1, 0)}


def test_a_lost_host_is_rescued_by_another_instance_within_the_lease(tenant, workers, tmp_path):
    log = tmp_path / "runs.log"
    enqueue_records(tenant, 400, log, sleep_ms=20)
    doomed = workers.start("--processes", "1", "--threads", "4", env={"INSTANCE_ID": "doomed"})
    wait_for(lambda: Task.objects.filter(status=Status.RUNNING, worker__startswith="doomed:").exists(),
             what="the doomed instance to hold tasks")
    survivor = workers.start("--processes", "1", "--threads", "4", env={"INSTANCE_ID": "survivor"})
    # The whole instance disappears at once: supervisor and children, no clean-up at all.
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait()
    killed_at = time.monotonic()
    wait_for(lambda: not Task.objects.filter(status=Status.RUNNING, worker__startswith="doomed:").exists(),
             timeout=30, what="the lapsed leases to be rescued")
    rescue_seconds = time.monotonic() - killed_at
    wait_for(lambda: Task.objects.filter(status__in=FINISHED).count() == 400, timeout=120, what="the drain")
    assert status_counts() == {Status.COMPLETED: 400}
    lost = [t for t in Task.objects.all() if any(e["type"] == "WorkerLost" for e in t.errors)]
    assert all(t.errors[0]["worker"].startswith("doomed:") for t in lost)
    rescued = lost + list(Task.objects.filter(returned__gt=0))  # prefetched, never started: uncharged
    assert rescued
    assert all(t.worker.startswith("survivor:") for t in rescued)
    assert rescue_seconds < 30
    assert survivor.poll() is None


def test_a_quiet_tenant_is_served_within_a_round_of_a_noisy_ones_backlog(workers):
    noisy = Tenant.objects.create(name="Noisy", slug="noisy")
    quiet = Tenant.objects.create(name="Quiet", slug="quiet")
    for _ in range(5):
        enqueue_many([{"type": "sleep", "payload": {"seconds": 0.002}}] * 1000, tenant=noisy)
    workers.start("--processes", "3", "--threads", "4")
    wait_for(lambda: Task.objects.filter(tenant=noisy, status=Status.COMPLETED).count() >= 100,
             interval=0.02, what="the noisy backlog to start draining")
    quiet_tasks = [e.task for e in enqueue_many([{"type": "sleep", "payload": {"seconds": 0.002}}] * 50,
                                                tenant=quiet)]
    backlog = Task.objects.filter(tenant=noisy, status=Status.PENDING).count()
    assert backlog > 1000, "the noisy tenant still had a real backlog when the quiet one arrived"
    wait_for(lambda: not Task.objects.filter(tenant=quiet).exclude(status=Status.COMPLETED).exists(),
             timeout=120, what="the quiet tenant's tasks")
    arrived = min(t.created_at for t in quiet_tasks)
    last_quiet_start = max(Task.objects.filter(tenant=quiet).values_list("started_at", flat=True))
    noisy_between = Task.objects.filter(tenant=noisy, started_at__gt=arrived,
                                        started_at__lte=last_quiet_start).count()
    assert noisy_between < 500, f"noisy tenant ran {noisy_between} tasks before the quiet one was served"


def test_sigterm_drains_running_tasks_and_exits_zero(tenant, workers, tmp_path):
    log = tmp_path / "runs.log"
    task = enqueue("record", tenant=tenant, payload={"log": str(log), "sleep_ms": 1500})
    proc = workers.start("--processes", "1", "--threads", "2", "--drain-timeout", "20")
    wait_for(lambda: log.exists(), what="the task to start")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, workers.log()
    task.refresh_from_db()
    assert task.status == Status.COMPLETED and task.attempts == 1
    assert not WorkerProcess.objects.exists()


def test_enqueue_wakes_an_idle_worker_process_across_processes(tenant, workers):
    # A 30 s poll: only the Redis wake-up can start the task within the wait below.
    workers.start("--processes", "1", "--threads", "2", env={"JOBS_TEST_POLL_SECONDS": "30"})
    wait_for(lambda: WorkerProcess.objects.exists(), what="the worker process")
    time.sleep(1)
    task = enqueue("noop", tenant=tenant)
    wait_for(lambda: Task.objects.get(pk=task.pk).status == Status.COMPLETED, timeout=10, what="the wake-up")
