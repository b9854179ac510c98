"""The Queues page (depths, ages, pauses, Pause/Resume buttons) and the tenants page's pause buttons."""

import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from jobs.lifecycle import Status
from jobs.models import Pause, Task
from jobs.services import pauses
from tenants.models import Tenant
from tests.support.builders import add_task
from tests.support.console import HTMX, html

pytestmark = pytest.mark.django_db


def row(body: str, kind: str, name: str) -> str:
    match = re.search(rf'<tr data-{kind}="{re.escape(name)}"[^>]*>(.*?)</tr>', body, re.S)
    assert match, f"no {kind} row {name!r} in {body[:3000]}"
    return match.group(1)


def test_the_page_shows_depths_ages_and_pauses(viewer: Client, tenant: Tenant) -> None:
    now = timezone.now()
    add_task(tenant, "noop", queue="emails", run_at=now - timedelta(minutes=3))
    add_task(tenant, "noop", queue="emails", status=Status.SCHEDULED, run_at=now + timedelta(hours=1))
    add_task(tenant, "sleep", queue="emails", status=Status.BLOCKED, blocked_on="pause")
    pauses.pause("queue", "emails", reason="SMTP down", by="ops@host")
    body = html(viewer.get("/queues/"))
    assert 'sse-connect="/console/events?panels=queues"' in body and 'aria-current="page">Queues' in body
    emails = row(body, "queue", "emails")
    cells = re.findall(r'<td class="num"[^>]*>([^<]*)</td>', emails)
    assert cells[:4] == ["3", "1", "1", "1"]  # depth, pending, scheduled, blocked
    assert re.search(r"data-age>\s*(2|3) min", emails), emails
    assert "paused" in emails and "ops@host" in emails and "SMTP down" in emails
    assert "Pause</button>" not in body and "Resume</button>" not in body  # a viewer cannot act
    noop = row(body, "type", "noop")
    assert re.findall(r'<td class="num"[^>]*>([^<]*)</td>', noop)[:2] == ["2", "1"]
    assert "paused" not in row(body, "type", "fail")  # registered, nothing waiting
    assert "Waiting now: 1 pending, 1 scheduled, 1 blocked." in body


def test_operator_pauses_and_resumes_a_queue(operator: Client, tenant: Tenant) -> None:
    body = html(operator.get("/queues/"))
    assert 'data-pause="queue:default"' in body and "data-pause-form" in body
    response = operator.post("/queues/pause/", {"kind": "queue", "value": "emails", "reason": "SMTP down"})
    assert response.status_code == 302 and response["Location"] == "/queues/"
    row_ = Pause.objects.get()
    assert (row_.kind, row_.value, row_.reason, row_.paused_by) == ("queue", "emails", "SMTP down",
                                                                     "console operator")
    parked = add_task(tenant, "noop", queue="emails", status=Status.BLOCKED, blocked_on="pause")
    page = html(operator.get("/queues/"))
    assert 'data-resume="queue:emails"' in row(page, "queue", "emails")
    assert "Paused queue emails" in page  # the message
    assert operator.post("/queues/resume/", {"kind": "queue", "value": "emails"}).status_code == 302
    assert not Pause.objects.exists()
    assert Task.objects.get(pk=parked.pk).status == Status.PENDING
    assert "1 parked task(s) are pending again" in html(operator.get("/queues/"))


def test_htmx_pause_takes_the_prompt_and_returns_the_table(operator: Client) -> None:
    response = operator.post("/queues/pause/", {"kind": "type", "value": "noop"},
                             headers={**HTMX, "HX-Target": "live-queues", "HX-Prompt": "bad deploy"})
    body = html(response)
    assert response.status_code == 200 and "<html" not in body
    assert 'data-resume="type:noop"' in row(body, "type", "noop")
    assert 'id="messages"' in body and 'hx-swap-oob="true"' in body and "Paused type noop" in body
    assert Pause.objects.get().reason == "bad deploy"
    response = operator.post("/queues/resume/", {"kind": "type", "value": "noop"},
                             headers={**HTMX, "HX-Target": "live-queues"})
    assert 'data-pause="type:noop"' in row(html(response), "type", "noop") and not Pause.objects.exists()


def test_bad_input_changes_nothing(operator: Client) -> None:
    assert operator.post("/queues/pause/", {"kind": "tenant", "value": "acme"}).status_code == 400
    assert operator.post("/queues/resume/", {"kind": "lane", "value": "x"}).status_code == 400
    response = operator.post("/queues/pause/", {"kind": "type", "value": "no_such_type"}, follow=True)
    assert "Not paused: value: unknown task type" in html(response)
    response = operator.post("/queues/resume/", {"kind": "queue", "value": "never"}, follow=True)
    assert "was not paused" in html(response)
    assert not Pause.objects.exists()


def test_a_viewer_cannot_pause_or_resume(viewer: Client, anon: Client, tenant: Tenant) -> None:
    assert viewer.post("/queues/pause/", {"kind": "queue", "value": "emails"}).status_code == 403
    assert viewer.post(f"/tenants/{tenant.slug}/pause/", {}).status_code == 403
    pauses.pause("queue", "emails")
    assert viewer.post("/queues/resume/", {"kind": "queue", "value": "emails"}).status_code == 403
    assert anon.post("/queues/resume/", {"kind": "queue", "value": "emails"}).status_code == 302  # to the login
    assert Pause.objects.count() == 1


def test_live_fragment(viewer: Client, tenant: Tenant) -> None:
    add_task(tenant, "noop", queue="bulk")
    body = html(viewer.get("/live/queues/"))
    assert "<html" not in body and "\n" not in body
    assert re.findall(r'<td class="num"[^>]*>([^<]*)</td>', row(body, "queue", "bulk"))[0] == "1"


def test_tenants_page_pauses_and_resumes_a_tenant(operator: Client, tenant: Tenant, other_tenant: Tenant) -> None:
    body = html(operator.get("/tenants/"))
    assert 'data-pause="tenant:acme"' in body and 'data-pause="tenant:globex"' in body
    response = operator.post("/tenants/acme/pause/", {"reason": "invoice dispute"})
    assert response.status_code == 302 and response["Location"] == "/tenants/"
    assert pauses.find("tenant", "acme") is not None
    body = html(operator.get("/tenants/"))
    acme = re.search(r'<tr data-tenant="acme">(.*?)</tr>', body, re.S)
    assert acme and "paused" in acme.group(1) and "invoice dispute" in acme.group(1)
    assert 'data-resume="tenant:acme"' in acme.group(1)
    assert 'data-pause="tenant:globex"' in body
    assert operator.post("/tenants/acme/resume/").status_code == 302
    assert not Pause.objects.exists()
    assert operator.post("/tenants/nobody/pause/").status_code == 404


def test_tenants_page_shows_pauses_to_a_viewer_without_buttons(viewer: Client, tenant: Tenant) -> None:
    pauses.pause("tenant", "acme", reason="audit", by="cli")
    body = html(viewer.get("/tenants/"))
    acme = re.search(r'<tr data-tenant="acme">(.*?)</tr>', body, re.S)
    assert acme and "audit" in acme.group(1) and "data-resume" not in body


@pytest.mark.django_db(transaction=True)
def test_the_queues_stream_pushes_the_table_live(tenant: Tenant, daphne: Any, streams: Any) -> None:
    clerk = Client()
    clerk.force_login(User.objects.create_user("watcher", is_staff=True, is_superuser=True))
    console = streams(daphne.port, "/console/events?panels=queues",
                      {"Cookie": f"sessionid={clerk.cookies['sessionid'].value}"})
    assert console.status == 200
    console.wait(lambda s: any(m.event == "queues" for m in s.snapshot()), what="the first table")
    first = next(m for m in console.snapshot() if m.event == "queues")
    assert first.data and 'data-queue="default"' in first.data and "paused" not in first.data
    pauses.pause("queue", "default", reason="live check", by="test")
    console.wait(lambda s: any(m.event == "queues" and "live check" in (m.data or "") for m in s.snapshot()),
                 timeout=30, what="the pause in the table")
    assert {m.event for m in console.snapshot()} <= {"queues", None}  # only this page's panel
