"""Firing ticks with chosen ``now`` values: one task per tick, the missed-run policies, errors, pruning."""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from jobs.models import AuditEntry, Schedule, ScheduleTick, Task
from jobs.services import firing, schedules

from .conftest import T0

pytestmark = pytest.mark.django_db


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ticks(schedule: Schedule) -> list[tuple[datetime, int, bool]]:
    return [(t.tick_at, t.skipped, t.task_id is not None) for t in schedule.ticks.order_by("tick_at")]


def test_a_due_tick_fires_one_task_and_moves_on(make_schedule: Callable[..., Schedule]) -> None:
    schedule = make_schedule(payload={"n": 1}, priority=4, queue="bulk", options={"max_retries": 1})
    assert firing.fire_due(s(0.5)) == 1
    assert firing.fire_due(s(0.7)) == 0  # the same tick again: nothing
    tick = schedule.ticks.get()
    assert (tick.tick_at, tick.fired_at, tick.manual, tick.error) == (T0, s(0.5), False, "")
    task = Task.objects.get(pk=tick.task_id)
    assert (task.type, task.payload, task.priority, task.queue, task.max_retries, task.tenant_id) == (
        "noop", {"n": 1}, 4, "bulk", 1, schedule.tenant_id)
    schedule.refresh_from_db()
    assert (schedule.last_run_at, schedule.next_run_at) == (T0, s(10))


def test_a_tick_already_fired_is_not_fired_again(make_schedule: Callable[..., Schedule]) -> None:
    schedule = make_schedule()
    first = firing.fire_tick(schedule, T0, now=s(0.1))
    # A second instance that read the schedule before the first committed computes the same tick.
    again = firing.fire_tick(schedule, T0, now=s(0.2))
    assert first is not None and first.task_id is not None
    assert again is None
    assert Task.objects.count() == 1


def test_on_time_ticks_all_fire_even_when_the_loop_was_slow(make_schedule: Callable[..., Schedule]) -> None:
    schedule = make_schedule()
    assert firing.fire_due(s(25)) == 3  # 0, 10 and 20 are within the 30 s grace
    assert ticks(schedule) == [(T0, 0, True), (s(10), 0, True), (s(20), 0, True)]


def test_latest_fires_once_for_a_gap(make_schedule: Callable[..., Schedule]) -> None:
    schedule = make_schedule(missed="latest")
    assert firing.fire_due(s(100.5)) == 1
    assert ticks(schedule) == [(s(100), 10, True)]  # ticks 0 … 90 passed over
    schedule.refresh_from_db()
    assert schedule.next_run_at == s(110)


def test_skip_fires_only_what_is_within_the_grace(make_schedule: Callable[..., Schedule], settings: Any) -> None:
    settings.JOBS = {**settings.JOBS, "SCHEDULE_GRACE_SECONDS": 15}
    schedule = make_schedule(missed="skip")
    assert firing.fire_due(s(100.5)) == 2
    assert ticks(schedule) == [(s(90), 9, True), (s(100), 0, True)]


def test_skip_fires_nothing_when_every_tick_is_late(make_schedule: Callable[..., Schedule], settings: Any) -> None:
    settings.JOBS = {**settings.JOBS, "SCHEDULE_GRACE_SECONDS": 2}
    schedule = make_schedule(missed="skip")
    assert firing.fire_due(s(105)) == 0
    schedule.refresh_from_db()
    assert ticks(schedule) == []
    assert schedule.next_run_at == s(110)  # on from the next future tick


def test_all_fires_the_most_recent_missed_limit(make_schedule: Callable[..., Schedule]) -> None:
    schedule = make_schedule(missed="all", missed_limit=4)
    assert firing.fire_due(s(100.5)) == 4
    assert ticks(schedule) == [(s(70), 7, True), (s(80), 0, True), (s(90), 0, True), (s(100), 0, True)]


def test_cron_downtime_with_latest(make_schedule: Callable[..., Schedule]) -> None:
    schedule = make_schedule(cron="*/5 * * * *", timezone="Europe/Berlin")
    assert firing.fire_due(T0 + timedelta(hours=1, seconds=1)) == 1
    assert ticks(schedule) == [(T0 + timedelta(hours=1), 12, True)]


def test_disabled_never_fires_and_resume_fires_no_backlog(make_schedule: Callable[..., Schedule]) -> None:
    schedule = make_schedule()
    schedules.pause(schedule.name)
    assert firing.fire_due(s(5)) == 0
    schedules.resume(schedule.name)
    schedule.refresh_from_db()
    # Resumed now (the real clock, years after T0): the next tick is after now, the backlog is gone.
    assert schedule.next_run_at is not None and schedule.next_run_at > T0 + timedelta(days=1)
    assert firing.fire_due(s(5)) == 0
    assert ScheduleTick.objects.count() == 0


def test_a_task_that_cannot_be_built_records_the_error(make_schedule: Callable[..., Schedule], tenant: Any) -> None:
    schedule = make_schedule()
    tenant.active = False
    tenant.save()
    assert firing.fire_due(s(1)) == 0
    tick = schedule.ticks.get()
    assert tick.task_id is None
    assert tick.error.startswith("tenant:") and "inactive" in tick.error
    schedule.refresh_from_db()
    assert schedule.next_run_at == s(10)  # it moves on


def test_ticks_beyond_the_kept_count_are_pruned(make_schedule: Callable[..., Schedule], settings: Any) -> None:
    settings.JOBS = {**settings.JOBS, "SCHEDULE_TICKS_KEPT": 3}
    schedule = make_schedule()
    for n in range(6):
        firing.fire_due(s(10 * n + 1))
    assert [t for t, _, _ in ticks(schedule)] == [s(30), s(40), s(50)]
    assert Task.objects.count() == 6  # the tasks stay; only the history is bounded


def test_run_now_fires_a_manual_tick_and_is_audited(make_schedule: Callable[..., Schedule]) -> None:
    schedule = make_schedule()
    schedules.pause(schedule.name)
    tick = schedules.run_now(schedule.name)
    assert tick.manual and tick.task_id is not None
    entry = AuditEntry.objects.filter(action="schedule.run_now").get()
    assert (entry.target, entry.tenant_id, entry.target_ids) == ("schedule tick", schedule.tenant_id, [tick.task_id])
    schedule.refresh_from_db()
    assert not schedule.enabled  # run-now does not resume it


def test_every_change_is_audited_once(make_schedule: Callable[..., Schedule]) -> None:
    make_schedule()
    schedules.update("tick", {"every": "1m"})
    schedules.update("tick", {"every": "1m"})  # no change: no entry
    schedules.pause("tick")
    schedules.resume("tick")
    schedules.delete("tick")
    actions = list(AuditEntry.objects.order_by("pk").values_list("action", flat=True))
    assert actions == ["schedule.create", "schedule.update", "schedule.pause", "schedule.resume", "schedule.delete"]
    update = AuditEntry.objects.get(action="schedule.update")
    assert update.detail == {"changes": {"every": [10, 60]}}
    assert not Schedule.objects.exists()


def test_a_timing_change_starts_from_the_next_tick(make_schedule: Callable[..., Schedule]) -> None:
    make_schedule()
    schedule = schedules.update("tick", {"cron": "0 3 * * *", "timezone": "Europe/Berlin"})
    assert (schedule.cron, schedule.every) == ("0 3 * * *", None)
    assert schedule.next_run_at is not None and schedule.next_run_at > T0 + timedelta(days=1)
    assert schedule.next_run_at.astimezone(ZoneInfo("Europe/Berlin")).hour == 3
