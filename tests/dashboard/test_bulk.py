"""Bulk actions on the filtered task list: the confirmation count, then exactly that set."""

import re
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.lifecycle import Status
from jobs.models import Task
from jobs.services import listing
from tenants.models import Tenant
from tests.support.builders import add_task, failed_task
from tests.support.bulk import latest, run_bulk_jobs
from tests.support.console import HTMX, html, statuses

pytestmark = pytest.mark.django_db


def bulk(client: Any, data: dict[str, str], **extra: Any) -> Any:
    return client.post("/tasks/bulk/", data, **extra)


def test_bulk_cancel_confirms_the_count_then_cancels_exactly_the_filtered_set(
        operator: Any, tenant: Tenant, other_tenant: Tenant) -> None:
    match = [add_task(tenant, "send_email"), add_task(tenant, "send_email", status=Status.SCHEDULED)]
    running = add_task(tenant, "send_email", status=Status.RUNNING, attempts=1, worker="w")
    finished = add_task(tenant, "send_email", status=Status.COMPLETED)
    other_type = add_task(tenant, "resize_image")
    other_tenant_task = add_task(other_tenant, "send_email")
    filters = {"tenant": "acme", "type": "send_email"}
    confirm = bulk(operator, {**filters, "action": "cancel"})
    body = html(confirm)
    assert confirm.status_code == 200 and 'data-bulk-count="3"' in body  # 2 waiting + 1 running
    assert "tenant = acme, type = send_email" in body
    assert statuses(*match, running) == [Status.PENDING, Status.SCHEDULED, Status.RUNNING]  # nothing yet
    upto = re.search(r'name="upto" value="(\d+)"', body)
    assert upto
    late = add_task(tenant, "send_email")  # enqueued after the confirmation: left alone
    response = bulk(operator, {**filters, "action": "cancel", "confirm": "yes", "upto": upto.group(1), "count": "3"})
    action = latest()
    assert response.status_code == 302 and response["Location"] == f"/bulk/{action.pk}/"
    assert action.filter == filters and action.cutoff_id == int(upto.group(1)) and action.expected == 3
    assert statuses(*match) == [Status.PENDING, Status.SCHEDULED]  # the request only started it
    assert 'data-bulk-state="queued"' in html(operator.get(response["Location"]))
    [summary] = run_bulk_jobs()
    assert (summary["state"], summary["done"], summary["expected"]) == ("done", 3, 3)
    assert statuses(*match) == [Status.CANCELLED, Status.CANCELLED]
    running.refresh_from_db()
    assert running.status == Status.RUNNING and running.cancel_requested
    assert statuses(finished, other_type, other_tenant_task, late) == [Status.COMPLETED, Status.PENDING,
                                                                       Status.PENDING, Status.PENDING]
    page = html(operator.get(response["Location"]))
    assert 'data-bulk-state="done"' in page and 'data-bulk-done="3"' in page and "hx-trigger" not in page


def test_bulk_retry_requeues_exactly_the_filtered_set(operator: Any, tenant: Tenant) -> None:
    dead = [failed_task(tenant, "resize_image", ("ValueError", "bad")) for _ in range(3)]
    cancelled = add_task(tenant, "resize_image", status=Status.CANCELLED, finished_at=timezone.now())
    other = failed_task(tenant, "send_email", ("SMTPError", "down"))
    pending = add_task(tenant, "resize_image")
    confirm = html(bulk(operator, {"type": "resize_image", "action": "retry"}))
    assert 'data-bulk-count="4"' in confirm
    upto = re.search(r'name="upto" value="(\d+)"', confirm)
    assert upto
    bulk(operator, {"type": "resize_image", "action": "retry", "confirm": "yes", "upto": upto.group(1)})
    assert statuses(*dead, cancelled) == [Status.FAILED] * 3 + [Status.CANCELLED]  # not yet: in the background
    run_bulk_jobs()
    assert statuses(*dead, cancelled) == [Status.PENDING] * 4
    assert statuses(other, pending) == [Status.FAILED, Status.PENDING]
    assert all(t.attempts == 0 for t in Task.objects.filter(pk__in=[d.pk for d in dead]))


def test_bulk_count_is_bounded(operator: Any, tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in range(4):
        add_task(tenant)
    monkeypatch.setattr(listing, "ACTION_COUNT_CAP", 3)
    with CaptureQueriesContext(connection) as queries:
        body = html(bulk(operator, {"action": "cancel"}))
    assert "more than 3" in body
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts and all("LIMIT 4" in q for q in counts)


def test_bulk_confirmation_over_htmx_is_a_fragment(operator: Any, tenant: Tenant) -> None:
    add_task(tenant)
    response = bulk(operator, {"action": "cancel", "status": "pending"}, headers={**HTMX, "HX-Target": "bulk-panel"})
    body = html(response)
    assert "<html" not in body and 'data-bulk-count="1"' in body and 'name="confirm" value="yes"' in body
    assert bulk(operator, {"action": "explode"}).status_code == 400


def test_bulk_with_nothing_to_do(operator: Any, tenant: Tenant) -> None:
    add_task(tenant, status=Status.COMPLETED)
    body = html(bulk(operator, {"action": "cancel"}))
    assert 'data-bulk-count="0"' in body and "nothing to do" in body and 'name="confirm"' not in body
