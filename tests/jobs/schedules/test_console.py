"""The console's Schedules pages: list with outcome and drift, a schedule's ticks, the form's errors, the actions."""

from typing import Any

import pytest
from django.test import Client

from jobs.models import AuditEntry, Schedule, Task
from jobs.services import schedule_specs, schedules
from tenants.models import Tenant
from tests.support.console import client_for, html, make_user

pytestmark = pytest.mark.django_db

VIEW = ["jobs.view_schedule"]
ACT = ["jobs.view_schedule", "jobs.change_schedule", "jobs.view_task"]

GOOD = {"name": "nightly", "tenant": "acme", "type": "noop", "cron": "30 2 * * *", "every": "",
        "timezone": "Europe/Berlin", "payload": '{"k": 1}', "priority": "3", "queue": "", "missed": "latest",
        "missed_limit": "10", "options": "{}", "enabled": "on"}


@pytest.fixture
def acting() -> Client:
    return client_for(make_user("ops", perms=ACT))


@pytest.fixture
def looking() -> Client:
    return client_for(make_user("look", perms=VIEW))


def test_add_then_see_it_listed_and_fire_it(acting: Client, tenant: Tenant) -> None:
    response = acting.post("/schedules/_new/", GOOD)
    assert response.status_code == 302, html(response)[:3000]
    schedule = Schedule.objects.get()
    assert (schedule.cron, schedule.timezone, schedule.payload, schedule.enabled) == (
        "30 2 * * *", "Europe/Berlin", {"k": 1}, True)
    listing = html(acting.get("/schedules/"))
    assert 'data-schedule="nightly"' in listing and "30 2 * * *" in listing and "never" in listing
    assert acting.post("/schedules/nightly/run/").status_code == 302
    task = Task.objects.get()
    page = html(acting.get("/schedules/nightly/"))
    assert f"#{task.pk}</a> pending" in page and "run now" in page
    assert acting.post("/schedules/nightly/pause/").status_code == 302
    assert not Schedule.objects.get().enabled
    assert "paused" in html(acting.get("/schedules/"))
    acting.post("/schedules/nightly/resume/")
    acting.post("/schedules/nightly/delete/")
    assert not Schedule.objects.exists()
    entries = AuditEntry.objects.order_by("pk")
    assert [e.action for e in entries] == ["schedule.create", "schedule.run_now", "schedule.pause",
                                           "schedule.resume", "schedule.delete"]
    assert {(e.actor_kind, e.actor, e.source) for e in entries} == {("user", "ops", "console")}


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"cron": "61 2 * * *"}, "cron", "61"),
    ({"cron": "", "every": "soon"}, "every", "must be an interval"),
    ({"timezone": "Europe/Gotham"}, "timezone", "unknown time zone"),
    ({"type": "ghost"}, "type", "unknown task type"),
    ({"payload": "{nope"}, "payload", "not valid JSON"),
    ({"options": '{"idempotency_key": "k"}'}, "options", "not a task field"),
    ({"name": "bad name"}, "name", "1 to 100 letters"),
])
def test_form_errors_are_shown_on_the_field(acting: Client, tenant: Tenant, changes: dict[str, str], field: str,
                                            words: str) -> None:
    response = acting.post("/schedules/_new/", {**GOOD, **changes})
    assert response.status_code == 400
    page = html(response)
    form = response.context["form"]
    assert field in form.errors or any(words in e for e in form.non_field_errors()), form.errors
    assert words in page
    assert not Schedule.objects.exists()


def test_edit_keeps_what_is_not_changed_and_refuses_bad_input(acting: Client, tenant: Tenant) -> None:
    acting.post("/schedules/_new/", GOOD)
    form = html(acting.get("/schedules/nightly/edit/"))
    assert 'value="30 2 * * *"' in form
    bad = acting.post("/schedules/nightly/edit/", {**GOOD, "cron": "* * *"})
    assert bad.status_code == 400 and "must have 5 fields" in html(bad)
    good = acting.post("/schedules/nightly/edit/", {**GOOD, "cron": "", "every": "15m", "name": "ignored"})
    assert good.status_code == 302
    schedule = Schedule.objects.get()
    assert (schedule.name, schedule.cron, schedule.every) == ("nightly", "", 900)


def test_drift_and_removed_from_settings_are_shown(acting: Client, tenant: Tenant, settings: Any) -> None:
    settings.JOBS = {**settings.JOBS, "SCHEDULES": {
        "sync-me": {"tenant": "acme", "type": "noop", "every": "1m"},
        "gone": {"tenant": "acme", "type": "noop", "every": "1h"},
    }}
    assert schedule_specs.sync_settings()["created"] == 2
    schedules.update("sync-me", {"every": "2m", "priority": 5})
    settings.JOBS = {**settings.JOBS, "SCHEDULES": {"sync-me": {"tenant": "acme", "type": "noop", "every": "1m"}}}
    listing = html(acting.get("/schedules/"))
    assert "drift: every" in listing and "drift: priority" in listing and "removed from settings" in listing
    assert schedule_specs.sync_settings() == {"created": 0, "updated": 1, "unchanged": 0, "disabled": 1,
                                              "invalid": 0, "conflict": 0}
    assert Schedule.objects.get(name="sync-me").every == 60 and not Schedule.objects.get(name="gone").enabled
    assert "drift:" not in html(acting.get("/schedules/"))


def test_viewers_see_but_cannot_act(looking: Client, acting: Client, tenant: Tenant) -> None:
    acting.post("/schedules/_new/", GOOD)
    assert looking.get("/schedules/").status_code == 200
    page = html(looking.get("/schedules/nightly/"))
    assert "data-run-now" not in page and "data-delete" not in page
    for path in ("/schedules/nightly/run/", "/schedules/nightly/pause/", "/schedules/nightly/delete/"):
        assert looking.post(path).status_code == 403
    assert looking.post("/schedules/_new/", {**GOOD, "name": "other"}).status_code == 403
    assert Schedule.objects.get().enabled and not Task.objects.exists() and Schedule.objects.count() == 1
    nobody = client_for(make_user("nobody", perms=["jobs.view_task"]))
    assert nobody.get("/schedules/").status_code == 403
    assert "Schedules</a>" not in html(nobody.get("/"))
    assert "Schedules</a>" in html(looking.get("/schedules/"))
    assert acting.get("/schedules/ghost/").status_code == 404
    assert acting.post("/schedules/nightly/explode/").status_code == 404
