"""Fire due schedule ticks: exactly one task per tick, from any number of instances.

Each schedule is fired in one transaction: its row is locked (``FOR UPDATE SKIP LOCKED``: an
instance already firing it is not waited for, nor its work repeated), one ``ScheduleTick`` is
inserted per tick fired, then its task (through the enqueue path, so the type, the bounds and the
queue are checked), then ``last_run_at``/``next_run_at`` move on. The lock only saves work:
correctness comes from the unique (schedule, tick_at) — a second instance that computes the same
tick (a stale read, SQLite, a clock a little behind) fails its insert, in a savepoint, and fires
nothing for it. Every time compared is the database's (``jobs.clock``).

Missed ticks: a due tick less than ``SCHEDULE_GRACE_SECONDS`` late is on time and always fires (a
slow loop or a busy database never drops one). Once the oldest due tick is later than that, the
instances were down: ``skip`` fires only the ticks still within the grace, ``latest`` one task for
the whole gap (the latest tick), ``all`` the most recent ``missed_limit`` ticks; the first tick
fired records how many were passed over (``skipped``).
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction

from .. import clock
from ..conf import conf
from ..exceptions import InvalidTask
from ..models import Schedule, ScheduleTick, Task
from .cron import Timing
from .enqueue import build_task, resolve_tenant, save_task


@dataclass
class Plan:
    #: (tick time, ticks passed over before it) for each tick to fire, oldest first.
    fire: list[tuple[datetime, int]] = field(default_factory=list)
    next: datetime | None = None


def timing_of(schedule: Schedule) -> Timing:
    return Timing(cron=schedule.cron, every=schedule.every, timezone=schedule.timezone)


def plan(timing: Timing, due_from: datetime, now: datetime, *, missed: str, limit: int, grace: float) -> Plan:
    """Which ticks from ``due_from`` (the schedule's next run) through ``now`` to fire, by the policy."""
    upcoming = timing.next_after(now)
    latest = timing.latest_at_or_before(now)
    if latest is None or latest < due_from:
        return Plan(next=upcoming)
    window = timedelta(seconds=grace)
    if now - due_from <= window:
        return Plan(fire=[(t, 0) for t in timing.ticks(due_from, now)], next=upcoming)
    total = timing.count(due_from, now)
    if missed == Schedule.Missed.LATEST:
        chosen = [latest]
    elif missed == Schedule.Missed.ALL:
        chosen = [latest]
        while len(chosen) < max(1, limit):
            earlier = timing.latest_at_or_before(chosen[-1] - timedelta(microseconds=1))
            if earlier is None or earlier < due_from:
                break
            chosen.append(earlier)
        chosen.reverse()
    else:  # skip: only what is still within the grace
        chosen = list(timing.ticks(max(due_from, now - window), now))
    passed_over = max(0, total - len(chosen))
    return Plan(fire=[(t, passed_over if i == 0 else 0) for i, t in enumerate(chosen)], next=upcoming)


def _spec(schedule: Schedule) -> dict[str, object]:
    spec: dict[str, object] = {**(schedule.options or {}), "type": schedule.type, "payload": schedule.payload,
                               "priority": schedule.priority}
    if schedule.queue:
        spec["queue"] = schedule.queue
    return spec


def fire_tick(schedule: Schedule, tick_at: datetime, *, now: datetime, skipped: int = 0,
              manual: bool = False) -> ScheduleTick | None:
    """Record one tick and enqueue its task, in the caller's transaction; None if it was already fired."""
    tick = ScheduleTick(schedule=schedule, tick_at=tick_at, fired_at=now, skipped=skipped, manual=manual)
    try:
        with transaction.atomic():
            tick.save(force_insert=True)
    except IntegrityError:
        return None  # another instance fired this tick: its task is the one
    try:
        with transaction.atomic():
            task: Task = save_task(build_task(resolve_tenant(schedule.tenant), _spec(schedule), now=now)).task
    except InvalidTask as exc:
        # The type is gone, the tenant inactive, a bound refused it: say why and move on.
        tick.error = f"{exc.field}: {exc.message}"[:500]
    else:
        tick.task = task
    tick.save(update_fields=["task", "error"])
    return tick


def _prune_ticks(schedule: Schedule) -> None:
    kept = conf().SCHEDULE_TICKS_KEPT
    oldest_kept = (ScheduleTick.objects.filter(schedule=schedule).order_by("-tick_at")
                   .values_list("tick_at", flat=True)[kept - 1:kept].first()) if kept > 0 else None
    if oldest_kept is not None:
        ScheduleTick.objects.filter(schedule=schedule, tick_at__lt=oldest_kept).delete()


def fire_schedule(pk: int, now: datetime) -> int:
    """Fire what is due of one schedule (if no other instance is firing it); return the tasks enqueued."""
    c = conf()
    with transaction.atomic():
        schedule = (Schedule.objects.select_for_update(skip_locked=True).select_related("tenant")
                    .filter(pk=pk, enabled=True, next_run_at__lte=now).first())
        if schedule is None or schedule.next_run_at is None:
            return 0  # another instance is firing it, or has fired it since we looked
        todo = plan(timing_of(schedule), schedule.next_run_at, now, missed=schedule.missed,
                    limit=schedule.missed_limit, grace=c.SCHEDULE_GRACE_SECONDS)
        fired = 0
        for tick_at, skipped in todo.fire:
            tick = fire_tick(schedule, tick_at, now=now, skipped=skipped)
            if tick is not None:
                fired += tick.task_id is not None
                schedule.last_run_at = tick_at
        schedule.next_run_at = todo.next
        Schedule.objects.filter(pk=pk).update(last_run_at=schedule.last_run_at, next_run_at=todo.next)
        if todo.fire:
            _prune_ticks(schedule)
    return fired


def fire_due(now: datetime | None = None, *, limit: int = 100) -> int:
    """Fire every enabled schedule that is due; return the tasks enqueued."""
    if now is None:
        clock.refresh()
        now = clock.now()
    due = list(Schedule.objects.filter(enabled=True, next_run_at__lte=now).order_by("next_run_at")
               .values_list("pk", flat=True)[:limit])
    return sum(fire_schedule(pk, now) for pk in due)
