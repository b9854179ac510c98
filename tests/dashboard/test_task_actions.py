"""One task in the console: its detail page, and cancel and retry from the list or the detail."""

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from jobs.lifecycle import Status
from tenants.models import Tenant
from tests.support.builders import add_task, error_entry, failed_task
from tests.support.console import HTMX, html, statuses

pytestmark = pytest.mark.django_db


def test_operator_cancels_and_retries(operator: Any, tenant: Tenant) -> None:
    pending = add_task(tenant)
    running = add_task(tenant, status=Status.RUNNING, attempts=1, worker="host-a:1:w",
                       started_at=timezone.now(), lease_expires_at=timezone.now() + timedelta(seconds=20))
    failed = failed_task(tenant, "send_email", ("SMTPError", "down"))
    response = operator.post(f"/tasks/{pending.pk}/cancel/", {"next": "/tasks/?status=pending"})
    assert response.status_code == 302 and response["Location"] == "/tasks/?status=pending"
    response = operator.post(f"/tasks/{running.pk}/cancel/", {"next": "https://evil.example/"})
    assert response["Location"] == f"/tasks/{running.pk}/"  # only local redirects
    operator.post(f"/tasks/{failed.pk}/retry/")
    pending.refresh_from_db()
    running.refresh_from_db()
    failed.refresh_from_db()
    assert pending.status == Status.CANCELLED and pending.finished_at is not None
    assert running.status == Status.RUNNING and running.cancel_requested
    assert failed.status == Status.PENDING and failed.attempts == 0 and len(failed.errors) == 1


def test_invalid_transition_is_reported_and_changes_nothing(operator: Any, tenant: Tenant) -> None:
    done = add_task(tenant, status=Status.COMPLETED, finished_at=timezone.now())
    response = operator.post(f"/tasks/{done.pk}/cancel/", follow=True)
    assert f"Task {done.pk} is completed: it cannot be cancelled." in html(response)
    response = operator.post(f"/tasks/{done.pk}/retry/", follow=True)
    assert "it cannot be retried" in html(response)
    assert statuses(done) == [Status.COMPLETED]
    assert operator.post("/tasks/999999999/cancel/").status_code == 404


def test_htmx_actions_return_the_updated_row_or_panel(operator: Any, tenant: Tenant) -> None:
    pending = add_task(tenant)
    failed = failed_task(tenant, "send_email", ("SMTPError", "down"))
    response = operator.post(f"/tasks/{pending.pk}/cancel/", {"next": "/tasks/"},
                             headers={**HTMX, "HX-Target": f"task-row-{pending.pk}"})
    body = html(response)
    assert response.status_code == 200 and "<html" not in body
    assert f'<tr id="task-row-{pending.pk}"' in body and 'badge s-cancelled">cancelled' in body
    assert 'id="messages"' in body and 'hx-swap-oob="true"' in body and f"Task {pending.pk} cancelled." in body
    assert f"/tasks/{pending.pk}/cancel/" not in body  # nothing left to cancel
    response = operator.post(f"/tasks/{failed.pk}/retry/", headers={**HTMX, "HX-Target": "task-detail"})
    body = html(response)
    assert 'id="task-detail"' in body and 'badge s-pending">pending' in body and "requeued" in body
    assert statuses(pending, failed) == [Status.CANCELLED, Status.PENDING]


def test_task_detail(viewer: Any, tenant: Tenant) -> None:
    finished = timezone.now()
    task = add_task(
        tenant, "send_email", status=Status.COMPLETED, attempts=3, payload={"to": "a@example.com"},
        result={"delivered": True}, worker="host-b:7:w", created_at=finished - timedelta(milliseconds=1750),
        # The third attempt came due after its back-off, 150 ms before it started: that is its wait.
        run_at=finished - timedelta(milliseconds=400),
        started_at=finished - timedelta(milliseconds=250), finished_at=finished,
        errors=[error_entry(1, "SMTPError", "mailbox <full>", worker="host-a:100:w"),
                error_entry(2, "TimeoutError", "took too long", worker="host-c:5:w")],
    )
    response = viewer.get(f"/tasks/{task.pk}/")
    body = html(response)
    assert response.status_code == 200 and "<html" in body
    assert "&quot;to&quot;: &quot;a@example.com&quot;" in body and "&quot;delivered&quot;: true" in body
    assert "Attempt 1 failed" in body and "host-a:100:w" in body and "mailbox &lt;full&gt;" in body
    assert "Attempt 2 failed" in body and "host-c:5:w" in body and "TimeoutError" in body
    assert "Attempt 3 completed" in body and "host-b:7:w" in body
    assert re.search(r'data-metric="queue-wait">150 ms<', body)
    assert re.search(r'data-metric="execution">250 ms<', body)
    assert "<details><summary>Traceback</summary>" in body
    panel = viewer.get(f"/tasks/{task.pk}/", headers={**HTMX, "HX-Target": "detail-panel"})
    assert 'id="task-detail"' in html(panel) and "<html" not in html(panel)
    assert viewer.get("/tasks/999999999/").status_code == 404


def test_running_task_shows_its_lease(viewer: Any, tenant: Tenant) -> None:
    now = timezone.now()
    task = add_task(tenant, status=Status.RUNNING, attempts=1, worker="host-a:1:w",
                    started_at=now - timedelta(seconds=5), lease_expires_at=now + timedelta(seconds=15),
                    created_at=now - timedelta(seconds=6))
    body = html(viewer.get(f"/tasks/{task.pk}/"))
    assert re.search(r'data-metric="lease">until <time[^>]*>[^<]*</time> \((1[0-5]|[1-9])(\.\d)? s left\)', body), body
    running = re.search(r'running for <span data-ticking-ms="(\d+)">[0-9.]+ s<', body)
    assert running and int(running.group(1)) >= 5000 and "Attempt 1 running" in body


def test_the_task_page_says_why_a_task_waits(viewer: Any, tenant: Tenant) -> None:
    from jobs.services.enqueue import enqueue
    from jobs.store import transitions

    keyed = [enqueue("noop", tenant=tenant, concurrency_key="acct-3") for _ in range(2)]
    transitions.claim(worker="host-a:1:w", asks={tenant.pk: 5}, queues=None, lease_seconds=60)
    holder, waiting = sorted(keyed, key=lambda t: t.pk)
    page = html(viewer.get(f"/tasks/{waiting.pk}/"))
    panel = re.search(r'<section class="why"[^>]*data-why="([a-z_]+)">(.*?)</section>', page, re.S)
    assert panel is not None and panel.group(1) == "concurrency_limit"
    assert "acct-3" in panel.group(2) and f"#{holder.pk}" in panel.group(2)
    assert 'class="badge s-blocked"' in page
    page = html(viewer.get(f"/tasks/{holder.pk}/"))
    assert 'data-why="running"' in page


def test_a_snoozed_task_says_so_in_the_list_and_the_detail(viewer: Any, tenant: Tenant) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    task = add_task(tenant, status=Status.SCHEDULED, snoozed=2, blocked_on="snooze",
                    run_at=timezone.now() + timedelta(seconds=30))
    others = [add_task(tenant, snoozed=1, interrupted=1) for _ in range(3)]
    with CaptureQueriesContext(connection) as few:
        listing = html(viewer.get("/tasks/"))
    with CaptureQueriesContext(connection) as more:
        add_task(tenant, snoozed=1, interrupted=1)
        html(viewer.get("/tasks/"))
    # The tags' columns are read with the page: no query per row.
    assert len(more.captured_queries) == len(few.captured_queries) + 1
    assert "snooze ×2" in listing and listing.count("snooze ×1") == len(others)
    body = html(viewer.get(f"/tasks/{task.pk}/"))
    assert re.search(r'data-metric="snoozed"><span class="tag">2×</span>', body)
    assert "Snoozed by its handler (no attempt charged)" in body


def test_a_throttled_task_names_its_resource(viewer: Any, tenant: Tenant) -> None:
    task = add_task(tenant, status=Status.SCHEDULED, resource="partner-api", blocked_on="resource",
                    run_at=timezone.now() + timedelta(seconds=1))
    body = html(viewer.get(f"/tasks/{task.pk}/"))
    assert "<code>partner-api</code>: waiting for its next start" in body
    assert "Throttled: its resource <code>partner-api</code>" in body
