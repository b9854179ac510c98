"""The operator's schedule changes — create, update, pause, resume, delete, run now — and the list.

What the CLI, the API, the console and the admin call: one validation (``schedule_specs.clean``),
one audit entry per change, written in the change's transaction (``jobs.services.audit``).
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction

from tenants.models import Tenant

from .. import clock
from ..models import Schedule, ScheduleTick, Task
from . import audit
from .cron import InvalidSchedule, Timing
from .firing import fire_tick, timing_of
from .schedule_specs import changes, check_name, clean, current_fields, drift, next_run

__all__ = ["InvalidSchedule", "ScheduleNotFound", "ScheduleRow", "Timing", "create", "delete", "expression", "find",
           "pause", "recent_ticks", "resume", "rows", "run_now", "update"]


class ScheduleNotFound(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no schedule named {name!r}")
        self.name = name


def _target(schedule: Schedule) -> str:
    return f"schedule {schedule.name}"


def _locked(name: str) -> Schedule:
    schedule = Schedule.objects.select_for_update().select_related("tenant").filter(name=name).first()
    if schedule is None:
        raise ScheduleNotFound(name)
    return schedule


def find(name: str) -> Schedule:
    schedule = Schedule.objects.select_related("tenant").filter(name=name).first()
    if schedule is None:
        raise ScheduleNotFound(name)
    return schedule


def _json(columns: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.slug if isinstance(v, Tenant) else v) for k, v in columns.items()}


def create(name: str, data: dict[str, Any]) -> Schedule:
    """A new runtime schedule; its first tick is the first after now."""
    check_name(name)
    clock.refresh()
    columns = clean(data)
    with transaction.atomic():
        if Schedule.objects.filter(name=name).exists():
            raise InvalidSchedule("name", f"a schedule named {name!r} exists")
        schedule = Schedule(name=name, source=Schedule.Source.RUNTIME, **columns)
        schedule.next_run_at = next_run(schedule)
        schedule.save(force_insert=True)
        audit.record("schedule.create", target=_target(schedule), tenant=schedule.tenant, detail=_json(columns))
    return schedule


def update(name: str, data: dict[str, Any]) -> Schedule:
    """Change some fields; a change of its timing (or a resume) starts from the next tick after now."""
    clock.refresh()
    with transaction.atomic():
        schedule = _locked(name)
        columns = clean(data, base=current_fields(schedule))
        diff = changes(schedule, columns)
        if not diff:
            return schedule
        was_enabled = schedule.enabled
        for field, value in columns.items():
            setattr(schedule, field, value)
        if any(f in diff for f in ("cron", "every", "timezone")) or (schedule.enabled and not was_enabled):
            schedule.next_run_at = next_run(schedule)
        schedule.save()
        action = ("schedule.pause" if set(diff) == {"enabled"} and not schedule.enabled
                  else "schedule.resume" if set(diff) == {"enabled"} else "schedule.update")
        audit.record(action, target=_target(schedule), tenant=schedule.tenant, detail={"changes": diff})
    return schedule


def pause(name: str) -> Schedule:
    return update(name, {"enabled": False})


def resume(name: str) -> Schedule:
    """Enable again: the ticks it missed while paused are not fired (the next is the first after now)."""
    return update(name, {"enabled": True})


def delete(name: str) -> None:
    with transaction.atomic():
        schedule = _locked(name)
        audit.record("schedule.delete", target=_target(schedule), tenant=schedule.tenant,
                     detail=_json(current_fields(schedule)) | {"source": schedule.source})
        schedule.delete()


def run_now(name: str) -> ScheduleTick:
    """Fire a manual tick at once (``tick_at`` = now, ``manual``), paused or not; the clock's ticks go on."""
    clock.refresh()
    with transaction.atomic():
        schedule = _locked(name)
        now = clock.now()
        tick = fire_tick(schedule, now, now=now, manual=True)
        if tick is None:  # a clock tick at this very microsecond
            raise InvalidSchedule("name", "a tick was fired at this very moment; try again")
        Schedule.objects.filter(pk=schedule.pk).update(last_run_at=now)
        audit.record("schedule.run_now", target=_target(schedule), tenant=schedule.tenant,
                     ids=[tick.task_id] if tick.task_id else [],
                     detail={"tick_at": clock.iso(now), "task": tick.task_id, "error": tick.error})
    return tick


@dataclass(frozen=True)
class ScheduleRow:
    """A schedule as the list shows it: its expression, its last tick's outcome, its drift."""

    schedule: Schedule
    expression: str
    last_tick: ScheduleTick | None
    last_status: str
    drift: list[str]

    @property
    def outcome(self) -> str:
        """``error: …``, the last task's status, ``pruned`` (the task is gone), or ``""`` (never fired)."""
        tick = self.last_tick
        if tick is None:
            return ""
        if tick.error:
            return f"error: {tick.error}"
        return self.last_status or "pruned"

    def as_dict(self) -> dict[str, Any]:
        s = self.schedule
        return {"name": s.name, "tenant": s.tenant.slug, "type": s.type, "cron": s.cron, "every": s.every,
                "expression": self.expression, "timezone": s.timezone, "payload": s.payload,
                "priority": s.priority, "queue": s.queue, "options": s.options, "missed": s.missed,
                "missed_limit": s.missed_limit, "enabled": s.enabled, "source": s.source,
                "next_run_at": _iso(s.next_run_at), "last_run_at": _iso(s.last_run_at),
                "last_task": self.last_tick.task_id if self.last_tick else None, "last_outcome": self.outcome,
                "drift": self.drift}


def _iso(moment: datetime | None) -> str | None:
    return clock.iso(moment) if moment else None


def expression(schedule: Schedule) -> str:
    return timing_of(schedule).expression if schedule.cron or schedule.every else ""


def rows(queryset: Any = None) -> list[ScheduleRow]:
    """Every schedule (by name) with its last tick and that task's status: three queries in all."""
    schedules = list((queryset if queryset is not None else Schedule.objects.all()).select_related("tenant")
                     .order_by("name"))
    last: dict[int, ScheduleTick] = {}
    for tick in ScheduleTick.objects.filter(schedule__in=schedules).order_by("schedule_id", "-tick_at").only(
            "schedule_id", "tick_at", "task_id", "error", "fired_at", "manual", "skipped"):
        last.setdefault(tick.schedule_id, tick)  # ticks are pruned to SCHEDULE_TICKS_KEPT per schedule
    statuses = dict(Task.objects.filter(pk__in=[t.task_id for t in last.values() if t.task_id])
                    .values_list("pk", "status"))
    return [ScheduleRow(s, expression(s), last.get(s.pk), statuses.get(last[s.pk].task_id or 0, "")
                        if s.pk in last else "", drift(s)) for s in schedules]


def recent_ticks(schedule: Schedule, limit: int = 50) -> list[tuple[ScheduleTick, str]]:
    """The schedule's latest ticks, each with its task's status ("" once the task is pruned)."""
    ticks = list(schedule.ticks.order_by("-tick_at")[:limit])
    statuses = dict(Task.objects.filter(pk__in=[t.task_id for t in ticks if t.task_id]).values_list("pk", "status"))
    return [(t, statuses.get(t.task_id or 0, "")) for t in ticks]

