"""Operator changes through the console and the admin: one entry each, naming the user, where from and what."""

from typing import Any

import pytest
from django.test import Client

from jobs.context import TaskContext
from jobs.lifecycle import Status
from jobs.models import AuditEntry, Resource
from jobs.registry import task
from tenants import keys
from tenants.models import ApiKey, Tenant
from tests.support.audit import actions, only
from tests.support.builders import add_task

pytestmark = pytest.mark.django_db


def _echo(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    return payload


task("audit_listed", access="listed")(_echo)


def test_console_cancel_records_the_user_and_their_address(operator: Client, acme: Tenant) -> None:
    pending = add_task(acme)
    assert operator.post(f"/tasks/{pending.pk}/cancel/", REMOTE_ADDR="198.51.100.7").status_code == 302
    only("task.cancel", actor_kind="user", actor="opal", source="console", address="198.51.100.7",
         target_ids=[pending.pk], counts={"cancelled": 1, "asked_to_stop": 0})


def test_console_tenant_limits_record_before_and_after(operator: Client, acme: Tenant) -> None:
    response = operator.post("/tenants/acme/", {"weight": "3", "rate_limit": "100", "rate_window_seconds": "30"})
    assert response.status_code == 302
    entry = only("tenant.update", actor="opal", source="console", tenant_id=acme.pk)
    assert entry.counts["before"] == {"weight": 1, "rate_limit": acme.rate_limit, "rate_window_seconds": None}
    assert entry.counts["after"] == {"weight": 3, "rate_limit": 100, "rate_window_seconds": 30}


def test_console_keys_issue_and_revoke(operator: Client, acme: Tenant) -> None:
    assert operator.post("/tenants/acme/keys/", {"name": "billing"}).status_code == 200
    key = ApiKey.objects.get(tenant=acme, name="billing")
    only("key.issue", actor="opal", source="console", target=f"key {key.prefix}", tenant_id=acme.pk,
         detail={"name": "billing", "operator": False})
    assert operator.post(f"/tenants/acme/keys/{key.pk}/revoke/").status_code == 302
    only("key.revoke", actor="opal", target_ids=[key.pk])
    operator.post(f"/tenants/acme/keys/{key.pk}/revoke/")
    assert AuditEntry.objects.filter(action="key.revoke").count() == 1, "revoking again changes nothing"


def test_console_grants_and_revokes_a_type(operator: Client, acme: Tenant) -> None:
    assert operator.post("/tenants/acme/", {"form": "grant", "type": "audit_listed"}).status_code == 302
    only("grant.create", actor="opal", tenant_id=acme.pk, detail={"type": "audit_listed"})
    assert operator.post("/tenants/acme/", {"form": "revoke_grant", "type": "audit_listed"}).status_code == 302
    only("grant.delete", actor="opal", tenant_id=acme.pk)


def test_console_pauses_and_resumes_a_queue_and_a_tenant(operator: Client, acme: Tenant) -> None:
    operator.post("/queues/pause/", {"kind": "queue", "value": "emails", "reason": "SMTP down"})
    operator.post("/queues/resume/", {"kind": "queue", "value": "emails"})
    operator.post("/tenants/acme/pause/")
    assert actions()[-3:] == ["pause.create", "pause.delete", "pause.create"]
    entry = AuditEntry.objects.filter(action="pause.create").order_by("id").last()
    assert entry is not None and (entry.target, entry.tenant_id, entry.actor) == ("tenant acme", acme.pk, "opal")


def test_admin_tenant_change_records_before_and_after_once(admin: Client, acme: Tenant) -> None:
    response = admin.post(f"/admin/tenants/tenant/{acme.pk}/change/", {
        "name": "Acme Inc", "slug": "acme", "weight": "2", "max_running": "", "active": "on",
        "rate_limit": str(acme.rate_limit), "api_keys-TOTAL_FORMS": "0", "api_keys-INITIAL_FORMS": "0",
    }, REMOTE_ADDR="192.0.2.1")
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = only("tenant.update", actor="root", source="admin", address="192.0.2.1", tenant_id=acme.pk)
    assert entry.counts == {"before": {"name": "Acme", "weight": 1}, "after": {"name": "Acme Inc", "weight": 2}}


def test_admin_adds_a_key_and_deletes_a_tenant(admin: Client, acme: Tenant) -> None:
    response = admin.post("/admin/tenants/apikey/add/", {"tenant": str(acme.pk), "name": "cron"})
    assert response.status_code == 200, response.content.decode()[:2000]
    key = ApiKey.objects.get(name="cron")
    only("key.issue", actor="root", source="admin", target_ids=[key.pk])
    response = admin.post(f"/admin/tenants/tenant/{acme.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    entry = only("tenant.delete", actor="root", source="admin", target="tenant acme")
    # The entry outlives its tenant (the foreign key is set to NULL, the row stays).
    assert entry.tenant_id is None and not Tenant.objects.filter(slug="acme").exists()


def test_admin_task_actions_record_the_selection(admin: Client, acme: Tenant) -> None:
    waiting = [add_task(acme) for _ in range(2)]
    done = add_task(acme, status=Status.COMPLETED)
    response = admin.post("/admin/jobs/task/", {"action": "cancel_tasks",
                                                "_selected_action": [str(t.pk) for t in [*waiting, done]]})
    assert response.status_code == 302
    entry = only("tasks.cancel", actor="root", source="admin")
    assert sorted(entry.target_ids) == sorted(t.pk for t in waiting), "only what the action applies to"
    assert entry.counts == {"matched": 2, "cancelled": 2, "asked_to_stop": 0}
    admin.post("/admin/jobs/task/", {"action": "requeue_tasks", "_selected_action": [str(waiting[0].pk)]})
    only("tasks.requeue", counts={"matched": 1, "requeued": 1}, target_ids=[waiting[0].pk])


def test_admin_bulk_delete_of_tasks_is_recorded_per_task(admin: Client, acme: Tenant) -> None:
    doomed = [add_task(acme, status=Status.COMPLETED) for _ in range(2)]
    response = admin.post("/admin/jobs/task/", {"action": "delete_selected", "post": "yes",
                                                "_selected_action": [str(t.pk) for t in doomed]})
    assert response.status_code == 302
    assert sorted(AuditEntry.objects.filter(action="task.delete").values_list("target_ids", flat=True)) == \
        sorted([[t.pk] for t in doomed])


def test_admin_resource_saves_are_recorded_by_the_service_once(admin: Client) -> None:
    admin.post("/admin/jobs/resource/add/", {"name": "partner", "rate": "5", "per_seconds": "1"})
    resource = Resource.objects.get(name="partner")
    only("resource.create", actor="root", source="admin", counts={
        "before": {}, "after": {"rate": 5, "per_seconds": 1.0, "per_tenant": False}})
    admin.post(f"/admin/jobs/resource/{resource.pk}/change/", {"rate": "7", "per_seconds": "1"})
    only("resource.update", counts={"before": {"rate": 5}, "after": {"rate": 7}})


def test_the_audit_admin_is_read_only(admin: Client, acme: Tenant) -> None:
    add_task(acme)
    admin.post(f"/admin/tenants/tenant/{acme.pk}/change/", {
        "name": "Acme", "slug": "acme", "weight": "9", "active": "on", "rate_limit": str(acme.rate_limit),
        "api_keys-TOTAL_FORMS": "0", "api_keys-INITIAL_FORMS": "0"})
    entry = only("tenant.update")
    assert admin.get("/admin/jobs/auditentry/").status_code == 200
    assert admin.get("/admin/jobs/auditentry/add/").status_code == 403
    assert admin.post(f"/admin/jobs/auditentry/{entry.pk}/change/", {"action": "x"}).status_code == 403
    assert admin.post(f"/admin/jobs/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    entry.refresh_from_db()
    assert entry.action == "tenant.update"


def test_admin_key_renames_are_recorded_on_either_page(admin: Client, acme: Tenant) -> None:
    key, _ = keys.issue(acme, name="old")
    response = admin.post(f"/admin/tenants/tenant/{acme.pk}/change/", {
        "name": "Acme", "slug": "acme", "weight": "1", "active": "on", "rate_limit": str(acme.rate_limit),
        "api_keys-TOTAL_FORMS": "1", "api_keys-INITIAL_FORMS": "1", "api_keys-0-id": str(key.pk),
        "api_keys-0-tenant": str(acme.pk), "api_keys-0-name": "renamed"})
    assert response.status_code == 302, response.content.decode()[:2000]
    only("key.update", actor="root", source="admin", target=f"key {key.prefix}", tenant_id=acme.pk,
         counts={"before": {"name": "old"}, "after": {"name": "renamed"}})
    assert not AuditEntry.objects.filter(action="tenant.update").exists(), "the tenant itself did not change"
    admin.post(f"/admin/tenants/apikey/{key.pk}/change/", {"name": "again"})
    assert list(AuditEntry.objects.filter(action="key.update").order_by("id").values_list("counts", flat=True))[1] \
        == {"before": {"name": "renamed"}, "after": {"name": "again"}}


def test_admin_adds_a_tenant_once(admin: Client) -> None:
    response = admin.post("/admin/tenants/tenant/add/", {
        "name": "Initech", "slug": "initech", "weight": "3", "active": "on",
        "api_keys-TOTAL_FORMS": "0", "api_keys-INITIAL_FORMS": "0"})
    assert response.status_code == 302, response.content.decode()[:2000]
    tenant = Tenant.objects.get(slug="initech")
    entry = only("tenant.create", actor="root", source="admin", tenant_id=tenant.pk, target="tenant initech")
    assert entry.counts["before"] == {} and entry.counts["after"]["weight"] == 3
