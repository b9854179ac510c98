"""The dead-letter page: failed tasks grouped by tenant, type and last error, and requeueing them
(the cut-off, discard and access: ``test_dead_letter_actions``)."""

import re
from typing import Any

import pytest
from django.utils import timezone

from jobs.lifecycle import Status
from jobs.models import Task
from jobs.services import bulk, deadletter
from tenants.models import Tenant
from tests.support.builders import add_task, failed_task
from tests.support.bulk import latest, run_bulk_jobs
from tests.support.console import html, statuses

pytestmark = pytest.mark.django_db


@pytest.fixture
def dead_set(tenant: Tenant, other_tenant: Tenant) -> dict[str, list[Task]]:
    return {
        "full": [
            failed_task(tenant, "send_email", ("TimeoutError", "slow"), ("SMTPError", "mailbox full")),
            failed_task(tenant, "send_email", ("SMTPError", "mailbox full")),
            failed_task(other_tenant, "send_email", ("SMTPError", "mailbox full")),
        ],
        "address": [failed_task(tenant, "send_email", ("SMTPError", "bad address")) for _ in range(2)],
        # Same last error as "full" but another task type: its own group.
        "resize": [failed_task(tenant, "resize_image", ("SMTPError", "mailbox full"))],
        # Last error differs from the first one: grouped by the last.
        "timeout": [failed_task(tenant, "send_email", ("SMTPError", "mailbox full"), ("TimeoutError", "slow"))],
    }


def groups_shown(body: str) -> dict[str, int]:
    """``"type tenant error_type: message": count`` for every group row."""
    rows = re.findall(r'<tr data-group-type="([^"]+)" data-group-tenant="([^"]*)" data-group-count="(\d+)">\s*'
                      r'<th[^>]*>.*?</th>\s*<td>.*?</td>\s*'
                      r'<td class="error-cell"><code>([^<]*)</code>: ([^<]*)</td>', body, re.S)
    return {f"{t} {s} {k}: {m}": int(n) for t, s, n, k, m in rows}


def test_dead_letter_groups_by_tenant_type_and_last_error(viewer: Any, dead_set: dict[str, list[Task]]) -> None:
    add_task(dead_set["full"][0].tenant, "send_email", status=Status.COMPLETED)  # not dead
    body = html(viewer.get("/dead-letter/"))
    assert groups_shown(body) == {
        "send_email acme SMTPError: mailbox full": 2,
        "send_email globex SMTPError: mailbox full": 1,  # the same failure of another tenant: its own group
        "send_email acme SMTPError: bad address": 2,
        "resize_image acme SMTPError: mailbox full": 1,
        "send_email acme TimeoutError: slow": 1,
    }
    assert "<strong>latest 5,000</strong> failed tasks" in body and "7 scanned" in body
    # A group's type opens that tenant's failed tasks of the type, not every tenant's.
    assert "/tasks/?status=failed&amp;type=send_email&amp;tenant=globex" in body


def test_dead_letter_tenant_filter(viewer: Any, dead_set: dict[str, list[Task]]) -> None:
    body = html(viewer.get("/dead-letter/?tenant=globex"))
    assert groups_shown(body) == {"send_email globex SMTPError: mailbox full": 1}
    assert "1 scanned" in body and "1 failed task of <strong>globex</strong>" in body
    assert '<option value="globex" selected>' in body
    unknown = html(viewer.get("/dead-letter/?tenant=nope"))
    assert "No tenant “nope”" in unknown and sum(groups_shown(unknown).values()) == 7


def test_dead_letter_without_error_history(viewer: Any, tenant: Tenant) -> None:
    add_task(tenant, "forced", status=Status.FAILED, errors=[])
    failed_task(tenant, "forced", ("ValueError", "x"))
    body = html(viewer.get("/dead-letter/"))
    assert "(no error recorded)" in body and groups_shown(body) == {"forced acme ValueError: x": 1}


def test_dead_letter_scan_is_bounded(viewer: Any, dead_set: dict[str, list[Task]],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deadletter, "SCAN_LIMIT", 2)
    body = html(viewer.get("/dead-letter/"))
    assert sum(groups_shown(body).values()) == 2 and "2 scanned" in body


def test_requeue_one_group(operator: Any, dead_set: dict[str, list[Task]]) -> None:
    group = {"scope": "group", "type": "send_email", "error_type": "SMTPError", "error_message": "mailbox full"}
    confirm = html(operator.post("/dead-letter/requeue/", group))
    assert 'data-requeue-count="3"' in confirm
    assert statuses(*dead_set["full"]) == [Status.FAILED] * 3
    upto = re.search(r'name="upto" value="(\d+)"', confirm)
    assert upto
    later = failed_task(dead_set["full"][0].tenant, "send_email", ("SMTPError", "mailbox full"))  # after the count
    response = operator.post("/dead-letter/requeue/", {**group, "confirm": "yes", "upto": upto.group(1)})
    action = latest()
    assert response.status_code == 302 and response["Location"] == f"/bulk/{action.pk}/"
    assert statuses(*dead_set["full"]) == [Status.FAILED] * 3  # in the background
    run_bulk_jobs()
    assert statuses(*dead_set["full"]) == [Status.PENDING] * 3
    assert statuses(later) == [Status.FAILED]  # it failed after the confirmation counted: left alone
    assert statuses(*dead_set["address"], *dead_set["resize"], *dead_set["timeout"]) == [Status.FAILED] * 4
    assert 'data-bulk-done="3"' in html(operator.get(response["Location"]))


def test_requeue_all_dead(operator: Any, dead_set: dict[str, list[Task]], tenant: Tenant) -> None:
    cancelled = add_task(tenant, status=Status.CANCELLED, finished_at=timezone.now())
    confirm = html(operator.post("/dead-letter/requeue/", {"scope": "all"}))
    assert 'data-requeue-count="7"' in confirm
    upto = re.search(r'name="upto" value="(\d+)"', confirm)
    assert upto
    operator.post("/dead-letter/requeue/", {"scope": "all", "confirm": "yes", "upto": upto.group(1)})
    run_bulk_jobs()
    assert not Task.objects.filter(status=Status.FAILED).exists()
    assert Task.objects.filter(status=Status.PENDING).exclude(type=bulk.BULK_TYPE).count() == 7
    assert statuses(cancelled) == [Status.CANCELLED]
    assert operator.post("/dead-letter/requeue/", {"scope": "nope"}).status_code == 400
