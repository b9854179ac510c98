"""The Schedule admin: added, edited and deleted through the services (validated and audited)."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from jobs.models import AuditEntry, Schedule
from jobs.services import schedules
from tenants.models import Tenant

pytestmark = pytest.mark.django_db

GOOD = {"name": "reports", "type": "noop", "cron": "0 6 * * 1-5", "every": "", "timezone": "America/New_York",
        "payload": '{"kind": "weekday"}', "priority": "3", "queue": "", "options": "{}", "missed": "latest",
        "missed_limit": "10", "enabled": "on"}


def ticks_shown(n: int) -> dict[str, str]:
    """The read-only ticks inline's management form, as the browser posts it back."""
    return {"ticks-TOTAL_FORMS": str(n), "ticks-INITIAL_FORMS": str(n)}


@pytest.fixture
def admin() -> Client:
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


def test_admin_adds_edits_and_deletes_through_the_services(admin: Client, tenant: Tenant) -> None:
    response = admin.post("/admin/jobs/schedule/add/", {**GOOD, "tenant": str(tenant.pk), **ticks_shown(0)})
    assert response.status_code == 302, response.content.decode()[:3000]
    schedule = Schedule.objects.get()
    assert (schedule.cron, schedule.timezone, schedule.payload, schedule.source) == (
        "0 6 * * 1-5", "America/New_York", {"kind": "weekday"}, "runtime")
    assert schedule.next_run_at is not None
    schedules.run_now("reports")
    page = admin.get(f"/admin/jobs/schedule/{schedule.pk}/change/").content.decode()
    assert "0 6 * * 1-5" in page and "ticks-TOTAL_FORMS" in page
    response = admin.post(f"/admin/jobs/schedule/{schedule.pk}/change/",
                          {**GOOD, "tenant": str(tenant.pk), "cron": "", "every": "10m", **ticks_shown(1)})
    assert response.status_code == 302, response.content.decode()[:3000]
    schedule.refresh_from_db()
    assert (schedule.name, schedule.cron, schedule.every) == ("reports", "", 600)
    assert admin.post(f"/admin/jobs/schedule/{schedule.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not Schedule.objects.exists()
    entries = AuditEntry.objects.exclude(action="schedule.run_now").order_by("pk")
    assert [e.action for e in entries] == ["schedule.create", "schedule.update", "schedule.delete"]
    assert {(e.actor, e.source) for e in entries} == {("root", "admin")}


@pytest.mark.parametrize(("changes", "message"), [
    ({"cron": "0 25 * * *"}, "&#x27;0 25 * * *&#x27;"),
    ({"cron": "", "every": "twice"}, "must be an interval"),
    ({"cron": ""}, "required: a cron expression, or every"),
    ({"timezone": "Moon/Base"}, "unknown time zone"),
    ({"type": "ghost"}, "unknown task type"),
    ({"name": "no spaces please"}, "1 to 100 letters"),
    ({"options": '{"run_at": "2030-01-01T00:00:00Z"}'}, "not a task field"),
])
def test_admin_refuses_what_every_entry_point_refuses(admin: Client, tenant: Tenant, changes: dict[str, str],
                                                      message: str) -> None:
    response = admin.post("/admin/jobs/schedule/add/", {**GOOD, "tenant": str(tenant.pk), **ticks_shown(0), **changes})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Schedule.objects.exists()
