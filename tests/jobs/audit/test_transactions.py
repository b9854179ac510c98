"""An entry and its change are one transaction: neither commits without the other."""

from typing import Any

import pytest
from django.db import transaction

from jobs import actor
from jobs.exceptions import InvalidTransition
from jobs.lifecycle import Status
from jobs.models import AuditEntry, Pause, Task
from jobs.services import audit, control, pauses
from tenants import changes, signals
from tenants.models import Tenant
from tests.support.builders import add_task

pytestmark = pytest.mark.django_db


class Refused(Exception):
    pass


def test_a_change_rolled_back_takes_its_entry_with_it(acme: Tenant) -> None:
    task = add_task(acme)
    with pytest.raises(Refused), transaction.atomic():
        control.cancel(task.pk)
        assert AuditEntry.objects.filter(action="task.cancel").exists()
        raise Refused
    task.refresh_from_db()
    assert task.status == Status.PENDING
    assert not AuditEntry.objects.filter(action="task.cancel").exists()


def test_an_entry_that_cannot_be_written_undoes_the_change(acme: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    task = add_task(acme)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise Refused

    monkeypatch.setattr(audit, "record", refuse)
    with pytest.raises(Refused):
        control.cancel(task.pk)
    assert Task.objects.get(pk=task.pk).status == Status.PENDING
    with pytest.raises(Refused):
        pauses.pause("queue", "mail", reason="x")
    assert not Pause.objects.exists()


def test_a_tenant_change_whose_entry_fails_is_not_saved(acme: Tenant) -> None:
    def refuse(sender: object, **kwargs: Any) -> None:
        raise Refused

    signals.operator_change.connect(refuse, dispatch_uid="test-refuse")
    try:
        with pytest.raises(Refused):
            changes.update(acme, {"weight": 7})
    finally:
        signals.operator_change.disconnect(dispatch_uid="test-refuse")
    assert Tenant.objects.get(pk=acme.pk).weight == 1
    assert not AuditEntry.objects.filter(action="tenant.update").exists()


def test_a_change_that_fails_leaves_no_entry(acme: Tenant) -> None:
    done = add_task(acme, status=Status.COMPLETED)
    with pytest.raises(InvalidTransition):
        control.cancel(done.pk)
    with pytest.raises(pauses.NotPaused):
        pauses.resume("queue", "never-paused")
    assert not AuditEntry.objects.filter(action__in=["task.cancel", "pause.delete"]).exists()


def test_code_outside_any_entry_point_acts_as_the_engine(acme: Tenant) -> None:
    task = add_task(acme)
    control.cancel(task.pk)
    entry = AuditEntry.objects.get(action="task.cancel")
    assert (entry.actor_kind, entry.actor, entry.source) == ("engine", "engine", "engine")
    with actor.acting(actor.cli()) as me:
        control.requeue(task.pk)
    assert AuditEntry.objects.get(action="task.requeue").actor == me.name
