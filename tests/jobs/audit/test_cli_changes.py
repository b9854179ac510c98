"""Operator changes from the CLI: one entry each, acting as user@host."""

import getpass
import socket

import pytest
from django.core.management.base import CommandError

from jobs.lifecycle import Status
from jobs.models import AuditEntry, Pause
from tenants.models import ApiKey, Tenant
from tests.support.audit import actions, only
from tests.support.builders import add_task
from tests.support.commands import run

pytestmark = pytest.mark.django_db


@pytest.fixture
def me() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


def test_cli_cancel_records_each_task(acme: Tenant, me: str) -> None:
    tasks = [add_task(acme) for _ in range(2)]
    run("cancel", *(str(t.pk) for t in tasks))
    entries = list(AuditEntry.objects.filter(action="task.cancel").order_by("id"))
    assert [e.target_ids for e in entries] == [[t.pk] for t in tasks]
    assert {(e.actor_kind, e.actor, e.source, e.address) for e in entries} == {
        ("cli", me, "cli", socket.gethostname())}


def test_cli_requeue_all_failed_records_the_filter_and_the_count(acme: Tenant, me: str) -> None:
    for _ in range(3):
        add_task(acme, "noop", status=Status.FAILED)
    add_task(acme, "other", status=Status.FAILED)
    run("requeue", "--all-failed", "--tenant", "acme", "--type", "noop")
    only("tasks.requeue", actor=me, source="cli", tenant_id=acme.pk, counts={"requeued": 3},
         filter={"status": "failed", "tenant": "acme", "type": "noop"})


def test_cli_pause_and_resume(acme: Tenant, me: str) -> None:
    run("pause", "--queue", "mail", "--reason", "smtp")
    assert Pause.objects.get(value="mail").paused_by == me
    run("pause", "--queue", "mail", "--reason", "smtp")  # the same again: nothing changed
    run("resume", "--queue", "mail")
    assert actions() == ["pause.create", "pause.delete"], "pausing again with the same reason changes nothing"
    only("pause.create", actor=me, target="queue mail")
    only("pause.delete", actor=me, counts={"unblocked": 0})
    with pytest.raises(CommandError):
        run("resume", "--queue", "mail")
    assert AuditEntry.objects.filter(action="pause.delete").count() == 1, "a failed resume leaves no entry"


def test_cli_resources(me: str) -> None:
    run("resource", "set", "partner", "--rate", "5", "--per", "1")
    run("resource", "set", "partner", "--rate", "6", "--per", "1")
    run("resource", "delete", "partner")
    assert actions() == ["resource.create", "resource.update", "resource.delete"]
    only("resource.delete", actor=me, counts={"before": {"rate": 6, "per_seconds": 1.0, "per_tenant": False}})


def test_cli_tenant_commands(me: str) -> None:
    run("create_tenant", "Initech", "--weight", "2")
    tenant = Tenant.objects.get(slug="initech")
    created = only("tenant.create", actor=me, tenant_id=tenant.pk)
    assert created.counts["after"]["weight"] == 2
    run("tenant", "initech", "--weight", "5", "--inactive")
    only("tenant.update", actor=me, counts={"before": {"weight": 2, "active": True},
                                            "after": {"weight": 5, "active": False}})
    run("tenant", "initech", "--weight", "5")
    assert AuditEntry.objects.filter(action="tenant.update").count() == 1, "no change, no entry"


def test_cli_keys(acme: Tenant, me: str) -> None:
    run("create_api_key", "acme", "--name", "cron", "--operator")
    key = ApiKey.objects.get(name="cron")
    only("key.issue", actor=me, tenant_id=acme.pk, target=f"key {key.prefix}", detail={"name": "cron",
                                                                                      "operator": True})
    run("revoke_api_key", key.prefix)
    only("key.revoke", actor=me, target_ids=[key.pk])
