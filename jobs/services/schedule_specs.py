"""A schedule's definition: its validation (one for every entry point), drift, and the settings sync.

``clean`` turns what a caller gives (the API's JSON, the CLI's flags, a console or admin form,
``JOBS["SCHEDULES"]``) into the ``Schedule`` columns, or raises ``InvalidSchedule`` naming the
field. The task fields are checked by building one task of the spec (``jobs.spec.build_task``), so
a schedule is refused for what its ticks would be refused for.
"""

import logging
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction

from tenants.models import Tenant

from .. import actor as actors
from .. import clock
from ..conf import conf
from ..exceptions import InvalidTask
from ..models import Schedule
from . import audit
from .cron import InvalidSchedule, Timing
from .enqueue import SPEC_FIELDS, build_task
from .firing import timing_of

logger = logging.getLogger(__name__)

#: Every field of a definition, as callers name it (``tz`` is accepted for ``timezone``).
FIELDS = ("tenant", "type", "cron", "every", "payload", "priority", "queue", "timezone", "missed", "missed_limit",
          "enabled", "options")
#: Task fields a schedule may not set per task: each tick is a new task, due when the tick fires.
NOT_OPTIONS = {"type", "payload", "priority", "queue", "run_at", "delay_seconds", "idempotency_key"}
MAX_MISSED_LIMIT = 1000
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")


def check_name(name: object) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise InvalidSchedule("name", "1 to 100 letters, digits, '.', '_', ':' or '-', starting with a letter "
                                      "or digit")
    return name


def _tenant(value: object) -> Tenant:
    if isinstance(value, Tenant):
        return value
    found = Tenant.objects.filter(slug=value).first() if isinstance(value, str) and value else None
    if found is None:
        raise InvalidSchedule("tenant", f"unknown tenant {value!r}")
    return found


def _int(field: str, value: object, low: int, high: int) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidSchedule(field, f"must be an integer between {low} and {high} (got {value!r})")
    return value


def _bool(field: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidSchedule(field, f"must be true or false (got {value!r})")
    return value


def current_fields(schedule: Schedule) -> dict[str, Any]:
    """A saved schedule as a definition (what ``clean`` takes, the tenant as its slug)."""
    return {"tenant": schedule.tenant.slug, "type": schedule.type, "cron": schedule.cron, "every": schedule.every,
            "payload": schedule.payload, "priority": schedule.priority, "queue": schedule.queue,
            "timezone": schedule.timezone, "missed": schedule.missed, "missed_limit": schedule.missed_limit,
            "enabled": schedule.enabled, "options": schedule.options}


def clean(data: Mapping[str, Any], base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Validate a definition (``data`` over ``base``, a saved schedule's fields); return the columns."""
    given = dict(data)
    if "tz" in given:
        given.setdefault("timezone", given.pop("tz"))
    unknown = set(given) - set(FIELDS)
    if unknown:
        raise InvalidSchedule(sorted(unknown)[0], "not a field of a schedule")
    # A change from cron to every (or back): the one given replaces the other.
    if given.get("cron") and "every" not in given:
        given["every"] = None
    if given.get("every") not in (None, "") and "cron" not in given:
        given["cron"] = ""
    merged = {"payload": {}, "priority": 3, "queue": "", "timezone": "UTC", "missed": Schedule.Missed.LATEST,
              "missed_limit": 10, "enabled": True, "options": {}, "cron": "", "every": None, **(base or {}), **given}
    for required in ("tenant", "type"):
        if not merged.get(required):
            raise InvalidSchedule(required, "required")
    tenant = _tenant(merged["tenant"])
    timing = Timing.of(merged["cron"] or "", merged["every"], merged["timezone"])
    if merged["missed"] not in Schedule.Missed.values:
        raise InvalidSchedule("missed", f"one of {', '.join(Schedule.Missed.values)} (got {merged['missed']!r})")
    options = merged["options"]
    if not isinstance(options, dict):
        raise InvalidSchedule("options", "must be a JSON object of task fields")
    for name in options:
        if name in NOT_OPTIONS or name not in SPEC_FIELDS:
            raise InvalidSchedule(f"options.{name}", "not a task field a schedule may set")
    queue = merged["queue"]
    if not isinstance(queue, str):
        raise InvalidSchedule("queue", "must be a string")
    priority = _int("priority", merged["priority"], 1, 5)
    spec = {**options, "type": merged["type"], "payload": merged["payload"], "priority": priority}
    if queue:
        spec["queue"] = queue
    try:
        task = build_task(tenant, spec, now=clock.now())
    except InvalidTask as exc:
        raise InvalidSchedule(f"options.{exc.field}" if exc.field in options else exc.field, exc.message) from None
    return {"tenant": tenant, "type": merged["type"], "payload": task.payload, "priority": priority, "queue": queue,
            "options": options, "cron": timing.cron, "every": timing.every, "timezone": timing.timezone,
            "missed": merged["missed"], "missed_limit": _int("missed_limit", merged["missed_limit"], 1,
                                                             MAX_MISSED_LIMIT),
            "enabled": _bool("enabled", merged["enabled"])}


def settings_specs() -> dict[str, Mapping[str, Any]]:
    specs = conf().SCHEDULES or {}
    return dict(specs) if isinstance(specs, Mapping) else {}


def drift(schedule: Schedule) -> list[str]:
    """How a settings schedule differs from its definition in settings: the fields, or ``["removed"]``."""
    if schedule.source != Schedule.Source.SETTINGS:
        return []
    spec = settings_specs().get(schedule.name)
    if spec is None:
        return ["removed"]
    try:
        wanted = clean(spec)
    except InvalidTask:
        return ["invalid in settings"]
    have = current_fields(schedule)
    return [f for f in FIELDS
            if (wanted[f].slug if f == "tenant" else wanted[f]) != have[f]]


def sync_settings() -> dict[str, int]:
    """Make the ``source=settings`` rows match ``JOBS["SCHEDULES"]`` (at worker start); return counts."""
    counts = {"created": 0, "updated": 0, "unchanged": 0, "disabled": 0, "invalid": 0, "conflict": 0}
    specs = settings_specs()
    clock.refresh()
    with actors.acting(actors.ENGINE):
        for name, spec in specs.items():
            try:
                check_name(name)
                columns = clean(spec if isinstance(spec, Mapping) else {})
            except InvalidTask as exc:
                logger.error("JOBS['SCHEDULES'][%r] is invalid, not synced: %s", name, exc)
                counts["invalid"] += 1
                continue
            try:
                counts[_sync_one(name, columns)] += 1
            except IntegrityError:
                continue  # another worker started at the same moment created it
        for schedule in Schedule.objects.filter(source=Schedule.Source.SETTINGS, enabled=True).exclude(
                name__in=list(specs)):
            with transaction.atomic():
                Schedule.objects.filter(pk=schedule.pk).update(enabled=False)
                audit.record("schedule.pause", target=f"schedule {schedule.name}", tenant=schedule.tenant_id,
                             detail={"reason": "removed from settings"})
            counts["disabled"] += 1
    return counts


def next_run(schedule: Schedule) -> datetime | None:
    """The first tick after now: a new, changed or resumed schedule fires nothing from before."""
    return timing_of(schedule).next_after(clock.now())


def changes(schedule: Schedule, columns: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for each column ``columns`` changes (the tenant by slug): the audit's detail."""
    have = current_fields(schedule)
    out: dict[str, list[Any]] = {}
    for f, value in columns.items():
        new = value.slug if isinstance(value, Tenant) else value
        if have.get(f) != new:
            out[f] = [have.get(f), new]
    return out


def _sync_one(name: str, columns: dict[str, Any]) -> str:
    with transaction.atomic():
        existing = Schedule.objects.select_for_update().filter(name=name).first()
        if existing is None:
            schedule = Schedule(name=name, source=Schedule.Source.SETTINGS, **columns)
            schedule.next_run_at = next_run(schedule)
            schedule.save(force_insert=True)
            audit.record("schedule.create", target=f"schedule {name}", tenant=schedule.tenant,
                         detail={"source": "settings"})
            return "created"
        if existing.source != Schedule.Source.SETTINGS:
            logger.warning("JOBS['SCHEDULES'][%r]: a runtime schedule has that name; left as it is", name)
            return "conflict"
        diff = changes(existing, columns)
        if not diff:
            return "unchanged"
        timing_changed = any(f in diff for f in ("cron", "every", "timezone"))
        for f, value in columns.items():
            setattr(existing, f, value)
        if timing_changed or (existing.enabled and "enabled" in diff):
            existing.next_run_at = next_run(existing)
        existing.save()
        audit.record("schedule.update", target=f"schedule {name}", tenant=existing.tenant,
                     detail={"source": "settings", "changes": diff})
        return "updated"
