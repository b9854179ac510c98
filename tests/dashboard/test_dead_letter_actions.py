"""The dead letter's bulk actions act only on what their confirmation counted: failures arriving
between the confirmation and the action (new tasks, and old ones running out of retries) are
skipped and reported; discard deletes, audited; operators only."""

import html as htmlmod
import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.db.models import Q
from django.test import Client
from django.utils import timezone

from jobs.lifecycle import Status
from jobs.models import AuditEntry, BulkAction, Task
from jobs.services import bulk, deadletter
from jobs.store.discard import discard_failed
from tenants.models import Tenant
from tests.support.builders import add_task, failed_task, set_status
from tests.support.bulk import latest, run_bulk_jobs
from tests.support.console import OPERATOR_PERMS, client_for, html, make_user, statuses

pytestmark = pytest.mark.django_db

FULL = {"scope": "group", "type": "send_email", "error_type": "SMTPError", "error_message": "mailbox full"}


@pytest.fixture
def discarder(db: None) -> Client:
    """An operator who may also delete tasks."""
    return client_for(make_user("discarder", perms=[*OPERATOR_PERMS, "jobs.delete_task"]))


def full(tenant: Tenant, **fields: Any) -> Task:
    return failed_task(tenant, "send_email", ("SMTPError", "mailbox full"), **fields)


def confirmation(client: Client, path: str, data: dict[str, str]) -> tuple[str, dict[str, str]]:
    """Ask for the confirmation; its page and the fields its confirm button posts."""
    body = html(client.post(path, data))
    form = re.search(r'<form method="post" action="[^"]+" class="confirm-actions">(.*?)</form>', body, re.S)
    assert form, body
    fields = {k: htmlmod.unescape(v) for k, v in re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(1))}
    return body, fields


def said(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def later() -> dict[str, Any]:
    """Finish columns a second after now: a failure that happens after the confirmation."""
    at = timezone.now() + timedelta(seconds=1)
    return {"finished_at": at, "started_at": at - timedelta(seconds=1)}


def test_requeue_all_skips_what_failed_after_the_confirmation(operator: Client, tenant: Tenant,
                                                              other_tenant: Tenant) -> None:
    retrying = add_task(tenant, "send_email", status=Status.SCHEDULED)  # an older id, still retrying
    counted = [full(tenant), full(other_tenant), failed_task(tenant, "resize", ("OSError", "disk"))]
    body, fields = confirmation(operator, "/dead-letter/requeue/", {"scope": "all"})
    assert 'data-requeue-count="3"' in body and fields["count"] == "3"
    # Failures arrive while the operator reads: a new task, and the old one running out of retries.
    arrived = [set_status(full(tenant), Status.FAILED, **later()), set_status(retrying, Status.FAILED, **later())]
    response = operator.post("/dead-letter/requeue/", fields)
    assert response.status_code == 302 and response["Location"] == f"/bulk/{latest().pk}/"
    assert said(response) == ["Requeueing 3 dead-lettered tasks in the background; "
                              "skipped 2 (2 failed after the confirmation)."]
    run_bulk_jobs()
    assert statuses(*counted) == [Status.PENDING] * 3
    assert statuses(*arrived) == [Status.FAILED] * 2
    page = html(operator.get(response["Location"]))
    assert 'data-bulk-done="3"' in page and "of 3 changed" in page


def test_requeue_reports_what_is_no_longer_failed(operator: Client, tenant: Tenant) -> None:
    tasks = [full(tenant) for _ in range(3)]
    _, fields = confirmation(operator, "/dead-letter/requeue/", FULL)
    set_status(tasks[0], Status.PENDING, finished_at=None)  # someone retried it meanwhile
    response = operator.post("/dead-letter/requeue/", fields)
    assert said(response) == ["Requeueing 2 dead-lettered tasks in the background; skipped 1 (1 no longer failed)."]
    run_bulk_jobs()
    assert statuses(*tasks) == [Status.PENDING] * 3 and latest().done == 2


def test_group_requeue_skips_new_failures(operator: Client, tenant: Tenant) -> None:
    counted = [full(tenant) for _ in range(2)]
    _, fields = confirmation(operator, "/dead-letter/requeue/", FULL)
    arrived = full(tenant)
    response = operator.post("/dead-letter/requeue/", fields)
    assert said(response) == ["Requeueing 2 dead-lettered tasks in the background; "
                              "skipped 1 (1 failed after the confirmation)."]
    run_bulk_jobs()
    assert statuses(*counted, arrived) == [Status.PENDING, Status.PENDING, Status.FAILED]


def test_group_requeue_skips_an_old_task_failing_after_the_confirmation(operator: Client, tenant: Tenant) -> None:
    retrying = add_task(tenant, "send_email", status=Status.SCHEDULED)  # an older id, still retrying
    counted = full(tenant)
    _, fields = confirmation(operator, "/dead-letter/requeue/", FULL)
    old = set_status(retrying, Status.FAILED, errors=counted.errors, **later())
    response = operator.post("/dead-letter/requeue/", fields)
    assert said(response) == ["Requeueing 1 dead-lettered task in the background; "
                              "skipped 1 (1 failed after the confirmation)."]
    run_bulk_jobs()
    assert statuses(counted, old) == [Status.PENDING, Status.FAILED]


def test_group_of_one_tenant(operator: Client, tenant: Tenant, other_tenant: Tenant) -> None:
    mine, theirs = full(tenant), full(other_tenant)
    page = html(operator.get("/dead-letter/"))
    assert page.count('name="tenant" value="globex"') == 1  # the globex row's requeue names its tenant
    body, fields = confirmation(operator, "/dead-letter/requeue/", {**FULL, "tenant": "globex"})
    assert 'data-requeue-count="1"' in body and "of <strong>globex</strong>" in body and fields["tenant"] == "globex"
    operator.post("/dead-letter/requeue/", fields)
    assert latest().tenant_id == other_tenant.pk
    run_bulk_jobs()
    assert statuses(mine, theirs) == [Status.FAILED, Status.PENDING]


def test_confirmation_previews_the_first_ids(operator: Client, tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deadletter, "PREVIEW_IDS", 2)
    tasks = [full(tenant) for _ in range(3)]
    body, _ = confirmation(operator, "/dead-letter/requeue/", FULL)
    preview = re.search(r"<p data-preview>(.*?)</p>", body, re.S)
    assert preview and "The first 2 of them" in preview.group(1)
    assert re.findall(r'href="/tasks/(\d+)/"', preview.group(1)) == [str(tasks[0].pk), str(tasks[1].pk)]


def test_discard_a_group_deletes_what_was_counted_and_audits_it(discarder: Client, tenant: Tenant,
                                                                 other_tenant: Tenant) -> None:
    counted = [full(tenant) for _ in range(2)]
    others = [full(other_tenant), failed_task(tenant, "send_email", ("SMTPError", "bad address"))]
    body, fields = confirmation(discarder, "/dead-letter/discard/", {**FULL, "tenant": "acme"})
    assert 'data-discard-count="2"' in body and "Delete them" in body
    arrived = set_status(full(tenant), Status.FAILED, **later())
    response = discarder.post("/dead-letter/discard/", fields)
    assert response.status_code == 302 and response["Location"] == "/dead-letter/?tenant=acme"
    assert said(response) == ["Discarded 2 dead-lettered tasks; skipped 1 (1 failed after the confirmation)."]
    assert not Task.objects.filter(pk__in=[t.pk for t in counted]).exists()
    assert statuses(arrived, *others) == [Status.FAILED] * 3
    entry = AuditEntry.objects.get(action="deadletter.discard")
    assert entry.actor == "discarder" and entry.source == "console" and entry.tenant_id == tenant.pk
    assert sorted(entry.target_ids) == [t.pk for t in counted]
    assert entry.counts == {"expected": 2, "deleted": 2, "arrived_after": 1, "no_longer_failed": 0}
    assert entry.filter == {"type": "send_email", "error_type": "SMTPError", "error_message": "mailbox full",
                            "tenant": "acme"}
    assert entry.detail["cutoff_id"] == counted[-1].pk


def test_discard_all_of_a_tenant(discarder: Client, tenant: Tenant, other_tenant: Tenant) -> None:
    mine = [full(tenant), failed_task(tenant, "resize", ("OSError", "disk"))]
    theirs = full(other_tenant)
    done = add_task(tenant, status=Status.COMPLETED, finished_at=timezone.now())
    page = html(discarder.get("/dead-letter/?tenant=acme"))
    assert "Discard all of acme…" in page
    _, fields = confirmation(discarder, "/dead-letter/discard/", {"scope": "all", "tenant": "acme"})
    set_status(mine[1], Status.PENDING, finished_at=None)  # requeued meanwhile: not deleted
    response = discarder.post("/dead-letter/discard/", fields)
    assert said(response) == ["Discarded 1 dead-lettered task; skipped 1 (1 no longer failed)."]
    assert statuses(mine[1], theirs, done) == [Status.PENDING, Status.FAILED, Status.COMPLETED]
    assert not Task.objects.filter(pk=mine[0].pk).exists()
    assert AuditEntry.objects.get(action="deadletter.discard").counts["deleted"] == 1


def test_discard_store_spares_a_requeued_task(tenant: Tenant) -> None:
    failed, requeued = full(tenant), set_status(full(tenant), Status.PENDING)
    assert discard_failed([failed.pk, requeued.pk], Q(pk__lte=requeued.pk)) == [failed.pk]
    assert statuses(requeued) == [Status.PENDING]


def test_only_operators_act(viewer: Client, operator: Client, discarder: Client, anon: Client,
                            tenant: Tenant) -> None:
    task = full(tenant)
    assert viewer.post("/dead-letter/requeue/", FULL).status_code == 403
    viewer_page = html(viewer.get("/dead-letter/"))
    assert "Requeue group…" not in viewer_page and "Discard" not in viewer_page
    # Requeueing is not deleting: an operator without the delete permission cannot discard.
    _, fields = confirmation(discarder, "/dead-letter/discard/", FULL)
    assert operator.post("/dead-letter/discard/", fields).status_code == 403
    operator_page = html(operator.get("/dead-letter/"))
    assert "Requeue group…" in operator_page and "Discard group…" not in operator_page
    assert anon.post("/dead-letter/discard/", fields).status_code == 302
    assert statuses(task) == [Status.FAILED] and not BulkAction.objects.exists()
    assert not AuditEntry.objects.filter(action="deadletter.discard").exists()


def test_requeue_all_is_not_the_primary_button(operator: Client, tenant: Tenant) -> None:
    full(tenant)
    button = re.search(r"<button [^>]*data-requeue-all[^>]*>", html(operator.get("/dead-letter/")))
    assert button and "primary" not in button.group(0)


@pytest.mark.parametrize(("data", "problem"), [
    ({"scope": "nope"}, "scope: must be group or all"),
    ({"scope": "group"}, "type: required for a group"),
    ({"scope": "all", "tenant": "nope"}, "tenant: no such tenant"),
    ({"scope": "all", "confirm": "yes"}, "upto: required to confirm"),
    ({"scope": "all", "confirm": "yes", "upto": "x"}, "upto: Enter a whole number."),
    ({"scope": "all", "confirm": "yes", "upto": "1", "finished": "yesterday"}, "finished: "),
])
def test_bad_input_is_a_400_naming_the_field(discarder: Client, tenant: Tenant, data: dict[str, str],
                                             problem: str) -> None:
    full(tenant)
    for path in ("/dead-letter/requeue/", "/dead-letter/discard/"):
        response = discarder.post(path, data)
        assert response.status_code == 400 and html(response).startswith(problem), html(response)
    assert statuses(*Task.objects.exclude(type=bulk.BULK_TYPE)) == [Status.FAILED]
