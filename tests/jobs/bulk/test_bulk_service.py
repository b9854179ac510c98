"""Bulk actions in the background: exactly the counted set, in batches, once per click, audited."""

from typing import Any

import pytest

from jobs import actor
from jobs.lifecycle import Status
from jobs.models import AuditEntry, BulkAction, Task
from jobs.services import bulk
from tenants.models import Tenant
from tests.support.builders import add_task, failed_task
from tests.support.bulk import context_for, run_bulk_jobs
from tests.support.console import statuses

pytestmark = pytest.mark.django_db


def start_cancel(tenant: Tenant | None, filter: dict[str, str]) -> bulk.Started:
    upto, count, _ = bulk.cutoff("cancel", filter, tenant)
    return bulk.start("cancel", filter=filter, tenant=tenant, cutoff_id=upto, expected=count)


def test_a_cancel_changes_what_was_counted_in_batches_and_records_one_entry(
        tenant: Tenant, other_tenant: Tenant, settings: Any) -> None:
    settings.JOBS = {**getattr(settings, "JOBS", {}), "BULK_BATCH": 2}
    counted = [add_task(tenant, "send_email") for _ in range(5)]
    other = add_task(other_tenant, "send_email")
    with actor.acting(actor.user("alice", source="console", address="10.0.0.7")):
        started = start_cancel(None, {"tenant": tenant.slug, "type": "send_email"})
    late = add_task(tenant, "send_email")  # after the count: not part of it
    assert started.created and started.bulk.expected == 5 and started.bulk.state == "queued"
    job = Task.objects.get(pk=started.bulk.task_id)
    assert (job.type, job.tenant.slug, job.status) == (bulk.BULK_TYPE, bulk.SYSTEM_TENANT, Status.PENDING)
    assert statuses(*counted) == [Status.PENDING] * 5  # the request did not do the work
    [summary] = run_bulk_jobs()
    assert (summary["state"], summary["done"], summary["skipped"]) == ("done", 5, 0)
    assert statuses(*counted) == [Status.CANCELLED] * 5
    assert statuses(late, other) == [Status.PENDING, Status.PENDING]
    [entry] = AuditEntry.objects.filter(action="tasks.cancel")
    assert (entry.actor, entry.source, entry.address) == ("alice", "console", "10.0.0.7")
    assert entry.counts == {"expected": 5, "changed": 5, "skipped": 0}
    assert entry.filter == {"tenant": tenant.slug, "type": "send_email"}
    assert entry.detail["bulk"] == started.bulk.pk


def test_a_second_click_finds_the_first_job(tenant: Tenant) -> None:
    add_task(tenant, "send_email")
    first = start_cancel(None, {"type": "send_email"})
    again = start_cancel(None, {"type": "send_email"})
    different = start_cancel(None, {"type": "resize_image"})
    assert not again.created and again.bulk.pk == first.bulk.pk
    assert different.created and different.bulk.pk != first.bulk.pk
    assert BulkAction.objects.count() == 2
    assert Task.objects.filter(type=bulk.BULK_TYPE).count() == 2


def test_tasks_that_left_the_state_by_their_turn_are_counted_as_skipped(tenant: Tenant) -> None:
    tasks = [add_task(tenant, "send_email") for _ in range(3)]
    started = start_cancel(None, {"type": "send_email"})
    Task.objects.filter(pk=tasks[0].pk).update(status=Status.COMPLETED)  # it ran meanwhile
    [summary] = run_bulk_jobs()
    assert (summary["done"], summary["skipped"], summary["expected"]) == (2, 0, 2)  # counted at the start
    assert started.bulk.expected == 3


def test_a_retry_waits_for_the_tenants_window_and_then_goes_on(tenant: Tenant, settings: Any) -> None:
    tenant.rate_limit, tenant.rate_window_seconds = 2, 60
    tenant.save()
    settings.JOBS = {**getattr(settings, "JOBS", {}), "BULK_BATCH": 2}
    dead = [failed_task(tenant, "send_email", ("SMTPError", "down")) for _ in range(4)]
    upto, count, _ = bulk.cutoff("retry", {"status": "failed"}, None)
    started = bulk.start("retry", filter={"status": "failed"}, tenant=None, cutoff_id=upto, expected=count)
    [waited] = run_bulk_jobs()
    assert waited["snoozed"] >= 1
    action = BulkAction.objects.get(pk=started.bulk.pk)
    assert action.done == 2 and action.state == "running" and action.message.startswith("waiting")
    assert sorted(statuses(*dead)) == [Status.FAILED] * 2 + [Status.PENDING] * 2


def test_a_stopped_job_ends_between_batches(tenant: Tenant, settings: Any) -> None:
    settings.JOBS = {**getattr(settings, "JOBS", {}), "BULK_BATCH": 1}
    tasks = [add_task(tenant, "send_email") for _ in range(3)]
    started = start_cancel(None, {"type": "send_email"})
    action = BulkAction.objects.select_related("task").get(pk=started.bulk.pk)
    ctx = context_for(action)
    ctx.cancel()
    summary = bulk.run(ctx)
    assert summary["state"] == "stopped" and "operator" in summary["message"]
    assert statuses(*tasks) == [Status.PENDING] * 3
    assert AuditEntry.objects.get(action="tasks.cancel").detail["state"] == "stopped"


def test_a_dead_letter_group_requeue_is_bounded_by_its_cutoff_and_tenant(
        tenant: Tenant, other_tenant: Tenant) -> None:
    group = {"type": "send_email", "error_type": "SMTPError", "error_message": "down"}
    mine = [failed_task(tenant, "send_email", ("SMTPError", "down")) for _ in range(2)]
    theirs = failed_task(other_tenant, "send_email", ("SMTPError", "down"))
    other_error = failed_task(tenant, "send_email", ("SMTPError", "full"))
    upto, count, _ = bulk.cutoff("requeue-dead", group, tenant)
    assert count == 2
    bulk.start("requeue-dead", filter=group, tenant=tenant, cutoff_id=upto, expected=count)
    later = failed_task(tenant, "send_email", ("SMTPError", "down"))
    run_bulk_jobs()
    assert statuses(*mine) == [Status.PENDING] * 2
    assert statuses(theirs, other_error, later) == [Status.FAILED] * 3
    assert AuditEntry.objects.get(action="deadletter.requeue").tenant_id == tenant.pk


@pytest.mark.parametrize(("kind", "filter", "field"), [
    ("explode", {}, "action"),
    ("cancel", {"stauts": "failed"}, "filter.stauts"),
    ("cancel", {"priority": "9"}, "filter.priority"),
    ("requeue-dead", {"type": "x"}, "filter"),
])
def test_a_bad_selection_is_refused_before_anything_starts(kind: str, filter: dict[str, str], field: str) -> None:
    with pytest.raises(bulk.InvalidSelection) as refused:
        bulk.start(kind, filter=filter, tenant=None, cutoff_id=10)
    assert refused.value.field == field
    assert not BulkAction.objects.exists() and not Task.objects.exists()
