"""Worker processes whose clocks are 30 s off (libfaketime), beside a correct one, against MariaDB.

With the test's 4 s leases, a worker 30 s behind writes leases that have already lapsed by
the others' clocks, and one 30 s ahead sees every other worker's lease as lapsed: on host
clocks both make tasks run twice. On the database's clock (``jobs.clock``) none does.
"""

import re
from collections import Counter
from pathlib import Path

import pytest

from jobs.lifecycle import FINISHED, Status
from jobs.models import Task, WorkerProcess
from jobs.services.enqueue import enqueue_many
from tests.support.api import Caller
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.mariadb, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

#: Instance name → the faketime offset of its worker process (None: the host's own clock).
CLOCKS = {"behind": "-30s", "ahead": "+30s", "exact": None}
TASKS = 24


def starts(log: Path) -> Counter[int]:
    return Counter(int(line.split()[1]) for line in log.read_text().splitlines() if line.startswith("start"))


def test_workers_30s_off_run_every_task_once_and_rescue_nothing(tenant, workers, tmp_path):
    log = tmp_path / "runs.log"
    # No prefetch: each process claims only what its two threads run, so all three take part.
    for instance, offset in CLOCKS.items():
        workers.start("--processes", "1", "--threads", "2", faketime=offset,
                      env={"INSTANCE_ID": instance, "JOBS_PREFETCH_PER_THREAD": "0"})
    wait_for(lambda: WorkerProcess.objects.count() == 3, timeout=30, what="three worker processes")
    ids = [e.task.pk for e in enqueue_many(
        [{"type": "record", "payload": {"log": str(log), "sleep_ms": 2000}}] * TASKS, tenant=tenant)]

    # Each 2 s run outlives a 4 s lease measured on a clock 30 s off many times over.
    wait_for(lambda: Task.objects.filter(status__in=FINISHED).count() == TASKS, timeout=60, what="the tasks")
    skews = dict(WorkerProcess.objects.values_list("instance", "clock_skew"))
    listed = Caller(tenant, operator=True).get("/api/workers", {"all": "true"}).json()["processes"]
    workers.stop_all()  # every run, a duplicate included, has ended and been logged

    tasks = list(Task.objects.filter(pk__in=ids))
    assert {t.status for t in tasks} == {Status.COMPLETED}
    assert [t.pk for t in tasks if t.attempts != 1 or t.lost or t.errors] == [], "a task was rescued or retried"
    runs = starts(log)
    assert set(runs) == set(ids)
    assert max(runs.values()) == 1, f"tasks ran twice: {sorted(k for k, n in runs.items() if n > 1)}"
    assert {t.worker.split(":")[0] for t in tasks} == set(CLOCKS), "every worker, skewed or not, ran tasks"
    for index in range(len(CLOCKS)):
        assert "rescued" not in workers.log(index)

    # Each process measured its own clock against the database's, and says so.
    assert skews["behind"] == pytest.approx(-30, abs=1)
    assert skews["ahead"] == pytest.approx(30, abs=1)
    assert skews["exact"] == pytest.approx(0, abs=1)
    assert {w["instance"]: w["clock_skew"] for w in listed} == pytest.approx(skews, abs=0.1)  # /api/workers
    for index, instance in enumerate(CLOCKS):
        warned = re.search(r"WARNING.*clock.*([+-]\d+\.\d) s", workers.log(index))
        if CLOCKS[instance] is None:
            assert warned is None
        else:
            assert warned and float(warned.group(1)) == pytest.approx(skews[instance], abs=0.1)
