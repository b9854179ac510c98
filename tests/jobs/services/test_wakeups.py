"""Enqueue inside transactions, and the worker wake-ups announced only after the commit."""

import pytest
from django.db import transaction

from jobs.exceptions import InvalidBatch
from jobs.lifecycle import Status
from jobs.models import Task
from jobs.notify import wakeup
from jobs.services.enqueue import enqueue, enqueue_many, enqueue_or_get
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


@pytest.mark.django_db(transaction=True)
def test_rolled_back_enqueue_writes_nothing_and_announces_nothing(
    tenant: Tenant, announcements: list[bytes]
) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue("noop", tenant=tenant)
        enqueue_or_get(tenant, {"type": "noop", "idempotency_key": "k"})
        enqueue_many([{"type": "noop"}] * 3, tenant=tenant)
        assert Task.objects.count() == 5  # visible inside the transaction…
        raise RuntimeError("the caller's own work failed")
    assert not Task.objects.exists()  # …and gone with it
    assert announcements == []


@pytest.mark.django_db(transaction=True)
def test_commit_announces_after_the_commit_not_before(tenant: Tenant, announcements: list[bytes]) -> None:
    with transaction.atomic():
        task = enqueue("noop", tenant=tenant)
        assert announcements == []
        results = enqueue_many([{"type": "noop"}, {"type": "sleep"}], tenant=tenant)
        assert announcements == []
    assert announcements
    assert set(announcements) == {wakeup.WORK}
    assert Task.objects.filter(pk__in=[task.pk, *(r.task.pk for r in results)]).count() == 3


@pytest.mark.django_db(transaction=True)
def test_autocommit_enqueue_announces_at_once(tenant: Tenant, announcements: list[bytes]) -> None:
    enqueue("noop", tenant=tenant)
    assert announcements == [wakeup.WORK]


@pytest.mark.django_db(transaction=True)
def test_scheduled_work_does_not_wake_workers(tenant: Tenant, announcements: list[bytes]) -> None:
    enqueue("noop", tenant=tenant, delay=60)
    enqueue_many([{"type": "noop", "delay_seconds": 60}] * 2, tenant=tenant)
    assert Task.objects.filter(status=Status.SCHEDULED).count() == 3
    assert announcements == []


@pytest.mark.django_db(transaction=True)
def test_repeated_key_does_not_announce_again(tenant: Tenant, announcements: list[bytes]) -> None:
    enqueue("noop", tenant=tenant, idempotency_key="once")
    assert announcements == [wakeup.WORK]
    enqueue("noop", tenant=tenant, idempotency_key="once")
    enqueue_many([{"type": "noop", "idempotency_key": "once"}], tenant=tenant)
    assert announcements == [wakeup.WORK]
    assert Task.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_failed_batch_inside_a_transaction_leaves_the_callers_writes_alone(
    tenant: Tenant, announcements: list[bytes]
) -> None:
    with transaction.atomic():
        kept = enqueue("noop", tenant=tenant)
        with pytest.raises(InvalidBatch):
            enqueue_many([{"type": "noop"}, {"type": "nope"}], tenant=tenant)
    assert list(Task.objects.values_list("pk", flat=True)) == [kept.pk]
    assert announcements == [wakeup.WORK]
