"""A limit-1 concurrency key never runs two tasks at once across real supervisors, kill -9 of a holder included."""

import itertools
import os
import signal
import time
from pathlib import Path

import pytest

from jobs.lifecycle import Status
from jobs.models import Task
from jobs.services.enqueue import enqueue_many
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.mariadb, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def runs(log: Path, ids: set[int], killed_at: float) -> list[tuple[float, float, int]]:
    """(start, end, task) of every run of ``ids``; a run with no end was cut by the kill."""
    starts: dict[tuple[int, int], float] = {}
    ends: dict[tuple[int, int], float] = {}
    for line in log.read_text().splitlines():
        event, task, attempt, _worker, at = line.split()
        if int(task) in ids:
            (starts if event == "start" else ends)[(int(task), int(attempt))] = float(at)
    return sorted((at, ends.get(key, killed_at), key[0]) for key, at in starts.items())


def test_a_limit_1_key_never_overlaps_across_two_supervisors_and_a_kill_of_its_holder(tenant, workers, tmp_path):
    log = tmp_path / "runs.log"
    keyed = {e.task.pk for e in enqueue_many(
        [{"type": "record", "payload": {"log": str(log), "sleep_ms": 100}, "concurrency_key": "acct-7"}] * 24,
        tenant=tenant)}
    others = [e.task.pk for e in enqueue_many(
        [{"type": "record", "payload": {"log": str(log), "sleep_ms": 50}}] * 60, tenant=tenant)]
    doomed = workers.start("--processes", "1", "--threads", "4", env={"INSTANCE_ID": "a"})
    workers.start("--processes", "1", "--threads", "4", env={"INSTANCE_ID": "b"})
    wait_for(lambda: Task.objects.filter(pk__in=keyed, status=Status.RUNNING, worker__startswith="a:").exists(),
             timeout=30, what="instance a to hold the key")
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait()
    killed_at = time.time()
    wait_for(lambda: not Task.objects.filter(pk__in=[*keyed, *others]).exclude(status=Status.COMPLETED).exists(),
             timeout=90, what="every task", interval=0.2)

    timeline = runs(log, keyed, killed_at)
    assert len(timeline) >= 24
    for (_, end, task), (start, _, following) in itertools.pairwise(timeline):
        assert start > end, f"task {following} started {end - start:.3f} s before task {task}'s run ended"
    # The killed holder's slot came back with the rescue: its task re-ran, charged as a lost run.
    lost = Task.objects.filter(pk__in=keyed, lost__gt=0) | Task.objects.filter(pk__in=keyed, returned__gt=0)
    assert lost.exists()
    # Work without the key was not held up behind it: it ran alongside, several at a time.
    other_runs = runs(log, set(others), killed_at)
    assert any(b[0] < a[1] for a, b in itertools.pairwise(other_runs))
    assert not Task.objects.filter(status=Status.BLOCKED).exists()
