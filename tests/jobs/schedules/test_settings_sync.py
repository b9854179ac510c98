"""JOBS["SCHEDULES"] synced into the table: created, updated back from drift, disabled when removed."""

from typing import Any

import pytest

from jobs import actor
from jobs.models import AuditEntry, Schedule
from jobs.services import schedule_specs, schedules
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


def define(settings: Any, specs: dict[str, Any]) -> None:
    settings.JOBS = {**settings.JOBS, "SCHEDULES": specs}


def test_sync_creates_updates_and_leaves_runtime_schedules_alone(tenant: Tenant, settings: Any,
                                                                 caplog: Any) -> None:
    with actor.acting(actor.cli()):
        schedules.create("mine", {"tenant": "acme", "type": "noop", "every": "1h"})
    define(settings, {
        "report": {"tenant": "acme", "type": "noop", "cron": "30 2 * * *", "tz": "Europe/Berlin",
                   "payload": {"k": 1}, "missed": "all", "missed_limit": 3},
        "mine": {"tenant": "acme", "type": "noop", "every": "5m"},
        "broken": {"tenant": "acme", "type": "noop", "cron": "99 * * * *"},
        "bad name!": {"tenant": "acme", "type": "noop", "every": "1m"},
    })
    counts = schedule_specs.sync_settings()
    assert (counts["created"], counts["conflict"], counts["invalid"]) == (1, 1, 2)
    report = Schedule.objects.get(name="report")
    assert (report.source, report.cron, report.timezone, report.payload, report.missed, report.missed_limit) == (
        "settings", "30 2 * * *", "Europe/Berlin", {"k": 1}, "all", 3)
    assert Schedule.objects.get(name="mine").every == 3600  # a runtime schedule is not overwritten
    assert "JOBS['SCHEDULES']['broken'] is invalid" in caplog.text and "Bad minute" in caplog.text
    assert schedule_specs.drift(report) == []
    assert schedule_specs.sync_settings()["unchanged"] == 1  # nothing to do the second time
    with actor.acting(actor.cli()):
        schedules.pause("report")
    assert schedule_specs.drift(Schedule.objects.get(name="report")) == ["enabled"]
    assert schedule_specs.sync_settings()["updated"] == 1
    report.refresh_from_db()
    assert report.enabled and report.next_run_at is not None
    engine = AuditEntry.objects.filter(actor_kind="engine").order_by("pk")
    assert [(e.action, e.target) for e in engine] == [("schedule.create", "schedule report"),
                                                     ("schedule.update", "schedule report")]


def test_a_schedule_removed_from_settings_is_shown_and_disabled(tenant: Tenant, settings: Any) -> None:
    define(settings, {"old": {"tenant": "acme", "type": "noop", "every": "1m"}})
    schedule_specs.sync_settings()
    define(settings, {})
    old = Schedule.objects.get(name="old")
    assert schedule_specs.drift(old) == ["removed"]
    assert schedule_specs.sync_settings()["disabled"] == 1
    assert not Schedule.objects.get(name="old").enabled
    assert AuditEntry.objects.filter(action="schedule.pause", actor="engine").get().detail == {
        "reason": "removed from settings"}
