"""The Pause admin: adding pauses through the service (validated), deleting resumes (unblocks)."""

import pytest
from django.test import Client

from jobs.lifecycle import Status
from jobs.models import Pause, Task
from jobs.services import pauses
from tenants.models import Tenant
from tests.support.builders import add_task

pytestmark = pytest.mark.django_db


def test_adding_a_pause_goes_through_the_service(admin_client_: Client, tenant: Tenant) -> None:
    response = admin_client_.post("/admin/jobs/pause/add/", {"kind": "tenant", "value": "acme", "reason": "audit"})
    assert response.status_code == 302, response.content.decode()[:3000]
    row = Pause.objects.get()
    assert (row.kind, row.value, row.reason, row.paused_by) == ("tenant", "acme", "audit", "admin root")
    listing = admin_client_.get("/admin/jobs/pause/").content.decode()
    assert "audit" in listing and "admin root" in listing


def test_adding_a_bad_pause_is_a_form_error(admin_client_: Client, tenant: Tenant) -> None:
    response = admin_client_.post("/admin/jobs/pause/add/", {"kind": "tenant", "value": "nobody", "reason": ""})
    assert response.status_code == 200 and "no tenant" in response.content.decode()
    response = admin_client_.post("/admin/jobs/pause/add/", {"kind": "type", "value": "no_such", "reason": ""})
    assert "unknown task type" in response.content.decode()
    assert not Pause.objects.exists()


def test_adding_what_is_paused_updates_it(admin_client_: Client) -> None:
    pauses.pause("queue", "emails", reason="one", by="cli")
    response = admin_client_.post("/admin/jobs/pause/add/", {"kind": "queue", "value": "emails", "reason": "two"})
    assert response.status_code == 302
    row = Pause.objects.get()
    assert (row.reason, row.paused_by) == ("two", "admin root")


def test_deleting_a_pause_resumes_and_unblocks(admin_client_: Client, tenant: Tenant) -> None:
    pauses.pause("queue", "emails")
    parked = add_task(tenant, status=Status.BLOCKED, blocked_on="pause", queue="emails")
    row = Pause.objects.get()
    response = admin_client_.post(f"/admin/jobs/pause/{row.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Pause.objects.exists()
    assert Task.objects.get(pk=parked.pk).status == Status.PENDING


def test_the_resume_action_unblocks_and_bulk_delete_is_gone(admin_client_: Client, tenant: Tenant) -> None:
    pauses.pause("queue", "emails")
    pauses.pause("type", "sleep")
    parked = [add_task(tenant, "noop", status=Status.BLOCKED, blocked_on="pause", queue="emails"),
              add_task(tenant, "sleep", status=Status.BLOCKED, blocked_on="pause", queue="x")]
    changelist = admin_client_.get("/admin/jobs/pause/").content.decode()
    assert 'value="resume_selected"' in changelist and 'value="delete_selected"' not in changelist
    response = admin_client_.post("/admin/jobs/pause/", {
        "action": "resume_selected", "_selected_action": list(Pause.objects.values_list("pk", flat=True))})
    assert response.status_code == 302
    assert not Pause.objects.exists()
    assert {Task.objects.get(pk=t.pk).status for t in parked} == {Status.PENDING}
