"""Pausing a type stops new starts fleet-wide within a second; running tasks finish; resume drains (MariaDB)."""

import time
from pathlib import Path

import pytest

from jobs.lifecycle import Status
from jobs.models import Task
from jobs.services import pauses
from jobs.services.enqueue import enqueue_many
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.mariadb, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def starts(log: Path) -> list[tuple[int, float]]:
    out = []
    for line in log.read_text().splitlines():
        event, task, _attempt, _worker, at = line.split()
        if event == "start":
            out.append((int(task), float(at)))
    return out


def test_pause_stops_new_starts_within_a_second_and_resume_drains(tenant, other_tenant, workers, tmp_path):
    log = tmp_path / "runs.log"
    ids = [e.task.pk for e in enqueue_many(
        [{"type": "record", "payload": {"log": str(log), "sleep_ms": 150}}] * 150, tenant=tenant)]
    others = [e.task.pk for e in enqueue_many([{"type": "noop"}] * 30, tenant=other_tenant)]
    for name in ("a", "b"):
        workers.start("--processes", "1", "--threads", "4", env={"INSTANCE_ID": name})
    wait_for(lambda: log.exists() and len(starts(log)) >= 10, timeout=30, what="the drain to be under way")
    pauses.pause("type", "record", reason="upstream maintenance", by="test")
    paused_at = time.time()
    time.sleep(2.5)
    late = [(task, at) for task, at in starts(log) if at > paused_at + 1.0]
    assert late == [], f"{len(late)} run(s) started more than a second after the pause"
    # What was running finished; the rest waits, paused; other work was not held up.
    assert not Task.objects.filter(pk__in=ids, status=Status.RUNNING).exists()
    waiting = Task.objects.filter(pk__in=ids, status__in=(Status.PENDING, Status.BLOCKED)).count()
    assert waiting > 50
    wait_for(lambda: Task.objects.filter(pk__in=others, status=Status.COMPLETED).count() == 30, timeout=30,
             what="the other tenant's work")
    assert pauses.resume("type", "record") >= 0
    resumed_at = time.time()
    wait_for(lambda: Task.objects.filter(pk__in=ids, status=Status.COMPLETED).count() == 150, timeout=90,
             what="the drain after resume", interval=0.2)
    assert min(at for _, at in starts(log) if at > paused_at + 1.0) - resumed_at < 2.0
    assert not Task.objects.filter(status=Status.BLOCKED).exists()
