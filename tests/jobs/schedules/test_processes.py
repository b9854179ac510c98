"""The issue's scenario: three worker supervisors (real processes) fire an every-2-seconds schedule.

One task per tick, none twice, no tick missing between the first and the last; then every worker
stops across several ticks and starts again: the ``latest`` policy fires one task for the gap.
"""

import itertools
import time
from datetime import timedelta
from pathlib import Path

import pytest

from jobs.lifecycle import Status
from jobs.models import Schedule, ScheduleTick, Task, WorkerProcess
from jobs.services import schedules
from tenants.models import Tenant
from tests.support.processes import Workers
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.mariadb, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

EVERY = timedelta(seconds=2)
#: Ticks later than this count as missed (the gap below is longer; a busy machine's slow loop is not).
ENV = {"JOBS_SCHEDULE_SECONDS": "0.5", "JOBS_SCHEDULE_GRACE_SECONDS": "5",
       # With a settings schedule, synced by each supervisor as it starts.
       "DJANGO_SETTINGS_MODULE": "tests.jobs.schedules.settings_with_schedules"}


def fleet(workers: Workers) -> None:
    for _ in range(3):
        workers.start("--processes", "1", "--threads", "2", env=ENV)
    wait_for(lambda: WorkerProcess.objects.count() == 3, timeout=90, what="three worker processes")


def ticks() -> list[ScheduleTick]:
    return list(ScheduleTick.objects.filter(schedule__name="every-2s").order_by("tick_at").select_related("task"))


def runs(log: Path) -> list[int]:
    return [int(line.split()[1]) for line in log.read_text().splitlines() if line.startswith("start")]


def test_three_supervisors_fire_each_tick_once_and_latest_covers_a_gap(tenant: Tenant, workers: Workers,
                                                                       tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    schedules.create("every-2s", {"tenant": tenant.slug, "type": "record", "every": "2s",
                                  "payload": {"log": str(log)}, "missed": "latest"})
    fleet(workers)
    synced = Schedule.objects.get(name="from-settings")
    assert (synced.source, synced.every, synced.tenant_id) == ("settings", 60, tenant.pk)
    wait_for(lambda: len(ticks()) >= 15, timeout=120, what="15 ticks (30 s of an every-2s schedule)")
    workers.stop_all()
    before = ticks()
    spaced = [b.tick_at - a.tick_at for a, b in itertools.pairwise(before)]
    assert set(spaced) == {EVERY}, [t.tick_at for t in before]  # none missing, none twice
    assert all(t.task_id and not t.skipped and not t.error and not t.manual for t in before)
    assert Task.objects.filter(type="record").count() == len(before)  # no task without its tick
    assert sorted(runs(log)) == sorted(t.task_id for t in before if t.task.status == Status.COMPLETED)

    time.sleep(14)  # every worker down for seven ticks
    fleet(workers)
    wait_for(lambda: len(ticks()) >= len(before) + 3, timeout=120, what="ticks after the restart")
    workers.stop_all()
    after = ticks()[len(before):]
    gap = after[0]
    missed = int((gap.tick_at - before[-1].tick_at) / EVERY) - 1
    assert missed >= 6, (before[-1].tick_at, gap.tick_at)
    # One task for the whole gap: its latest tick, the others passed over.
    assert (gap.skipped, bool(gap.task_id)) == (missed, True)
    spaced = [b.tick_at - a.tick_at for a, b in itertools.pairwise(after)]
    assert set(spaced) == {EVERY}, [t.tick_at for t in after]
    assert all(t.task_id and not t.skipped for t in after[1:])
    assert Task.objects.filter(type="record").count() == len(before) + len(after)
