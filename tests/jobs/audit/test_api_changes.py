"""Operator changes through the HTTP API: each writes one entry naming the key, the API and the client's address."""

import pytest
from django.test import Client

from jobs import actor
from jobs.lifecycle import Status
from jobs.models import AuditEntry
from tenants.models import Tenant
from tests.support.api import Caller
from tests.support.audit import only
from tests.support.builders import add_task

pytestmark = pytest.mark.django_db


def test_cancel_over_the_api_records_the_key_the_address_and_the_task(api: Caller) -> None:
    task = add_task(api.tenant)
    response = api.post(f"/api/tasks/{task.pk}/cancel", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 200, response.content
    entry = only("task.cancel", actor_kind="key", actor=api.key.prefix, source="api", address="203.0.113.9",
                 target=f"task {task.pk}", target_ids=[task.pk], tenant_id=api.tenant.pk)
    assert entry.counts == {"cancelled": 1, "asked_to_stop": 0}
    assert entry.detail == {"status": Status.PENDING}


def test_a_retry_over_the_api_records_task_requeue(api: Caller) -> None:
    task = add_task(api.tenant, status=Status.FAILED)
    assert api.post(f"/api/tasks/{task.pk}/retry").status_code == 200
    entry = only("task.requeue", actor=api.key.prefix, source="api", target_ids=[task.pk])
    assert entry.counts == {"requeued": 1} and entry.detail == {"status": Status.FAILED}


def test_a_refused_cancel_records_nothing(api: Caller) -> None:
    task = add_task(api.tenant, status=Status.COMPLETED)
    assert api.post(f"/api/tasks/{task.pk}/cancel").status_code == 409
    assert not AuditEntry.objects.filter(action="task.cancel").exists()


def test_a_tenant_patch_records_the_fields_before_and_after(operator_api: Caller, api: Caller) -> None:
    response = operator_api.client.patch("/api/tenants/acme", {"weight": 4, "max_running": None, "active": True},
                                         content_type="application/json")
    assert response.status_code == 200, response.content
    stored = Tenant.objects.get(slug="acme")
    entry = only("tenant.update", actor=operator_api.key.prefix, source="api", tenant_id=stored.pk,
                 target="tenant acme")
    assert entry.counts["before"]["weight"] == 1 and entry.counts["after"]["weight"] == 4
    assert "active" not in entry.counts["after"], "unchanged fields are not listed"
    # The same values again change nothing: no second entry.
    operator_api.client.patch("/api/tenants/acme", {"weight": 4}, content_type="application/json")
    assert AuditEntry.objects.filter(action="tenant.update").count() == 1


def test_pause_and_resume_over_the_api(operator_api: Caller) -> None:
    assert operator_api.post("/api/pauses", {"kind": "queue", "value": "mail", "reason": "smtp down"}).status_code \
        == 201
    created = only("pause.create", actor=operator_api.key.prefix, source="api", target="queue mail")
    assert created.counts["after"]["reason"] == "smtp down"
    assert operator_api.client.delete("/api/pauses/queue/mail").status_code == 200
    only("pause.delete", actor=operator_api.key.prefix, target="queue mail", counts={"unblocked": 0})


def test_the_key_never_outlives_its_request(api: Caller, operator: Client) -> None:
    """An API request acts as its key only while it runs: the thread's next request (a console one) and
    the code after it act as themselves."""
    task = add_task(api.tenant)
    assert api.post(f"/api/tasks/{task.pk}/cancel").status_code == 200
    assert actor.current() == actor.ENGINE
    other = add_task(api.tenant)
    response = operator.post(f"/tasks/{other.pk}/cancel/")
    assert response.status_code == 302
    entries = list(AuditEntry.objects.filter(action="task.cancel").order_by("id"))
    assert [(e.actor_kind, e.actor, e.source) for e in entries] == [("key", api.key.prefix, "api"),
                                                                     ("user", "opal", "console")]
    assert actor.current() == actor.ENGINE
