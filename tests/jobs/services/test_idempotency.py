"""Idempotency keys: one task per tenant and key, for enqueue, enqueue_or_get and enqueue_many."""

from typing import Any

import pytest

from jobs.exceptions import InvalidBatch, InvalidTask
from jobs.models import Task, TaskQuerySet
from jobs.services.enqueue import enqueue, enqueue_many, enqueue_or_get
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


def test_same_key_twice_returns_the_original(tenant: Tenant) -> None:
    first = enqueue_or_get(tenant, {"type": "noop", "payload": {"v": 1}, "idempotency_key": "order-1"})
    second = enqueue_or_get(tenant, {"type": "noop", "payload": {"v": 2}, "idempotency_key": "order-1"})
    assert first.created is True
    assert second.created is False
    assert second.task.pk == first.task.pk
    assert second.task.payload == {"v": 1}
    assert Task.objects.count() == 1
    assert enqueue("noop", tenant=tenant, idempotency_key="order-1").pk == first.task.pk
    assert Task.objects.count() == 1


def test_same_key_for_two_tenants_makes_two_tasks(tenant: Tenant, other_tenant: Tenant) -> None:
    mine = enqueue_or_get(tenant, {"type": "noop", "idempotency_key": "shared"})
    theirs = enqueue_or_get(other_tenant, {"type": "noop", "idempotency_key": "shared"})
    assert mine.created and theirs.created
    assert mine.task.pk != theirs.task.pk
    assert theirs.task.tenant_id == other_tenant.pk
    assert Task.objects.count() == 2


def test_tasks_without_a_key_are_never_deduplicated(tenant: Tenant) -> None:
    enqueue("noop", tenant=tenant)
    enqueue("noop", tenant=tenant)
    assert Task.objects.filter(idempotency_key__isnull=True).count() == 2


@pytest.mark.parametrize("key", ["", "k" * 256, 42])
def test_bad_idempotency_key_is_rejected(tenant: Tenant, key: Any) -> None:
    with pytest.raises(InvalidTask) as info:
        enqueue("noop", tenant=tenant, idempotency_key=key)
    assert info.value.field == "idempotency_key"


def test_enqueue_many_returns_the_existing_task_for_a_used_key(tenant: Tenant) -> None:
    existing = enqueue_or_get(tenant, {"type": "noop", "idempotency_key": "k1"}).task
    results = enqueue_many(
        [
            {"type": "sleep", "idempotency_key": "k1"},
            {"type": "noop"},
            {"type": "noop", "idempotency_key": "k2"},
        ],
        tenant=tenant,
    )
    assert [r.created for r in results] == [False, True, True]
    assert results[0].task.pk == existing.pk
    assert results[0].task.type == "noop"  # the original, not the new spec
    assert results[1].task.pk and results[2].task.pk
    assert len({r.task.pk for r in results}) == 3
    assert Task.objects.count() == 3
    assert Task.objects.get(idempotency_key="k2").pk == results[2].task.pk


def test_enqueue_many_key_of_another_tenant_does_not_match(tenant: Tenant, other_tenant: Tenant) -> None:
    theirs = enqueue_or_get(other_tenant, {"type": "noop", "idempotency_key": "k1"}).task
    (result,) = enqueue_many([{"type": "noop", "idempotency_key": "k1"}], tenant=tenant)
    assert result.created
    assert result.task.pk != theirs.pk
    assert result.task.tenant_id == tenant.pk


def test_keys_differing_only_in_case_are_different_keys(tenant: Tenant) -> None:
    first = enqueue_or_get(tenant, {"type": "noop", "idempotency_key": "Order-A"})
    second = enqueue_or_get(tenant, {"type": "noop", "idempotency_key": "order-a"})
    assert first.created and second.created
    assert first.task.pk != second.task.pk
    assert Task.objects.count() == 2


def test_enqueue_many_key_differing_only_in_case_from_a_stored_one(tenant: Tenant) -> None:
    stored = enqueue_or_get(tenant, {"type": "noop", "idempotency_key": "Order-A"}).task
    (result,) = enqueue_many([{"type": "noop", "idempotency_key": "order-a"}], tenant=tenant)
    assert result.created
    assert result.task.pk != stored.pk
    assert Task.objects.count() == 2


def test_concurrent_enqueue_with_the_same_key_answers_with_the_winner(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    winner = enqueue_or_get(tenant, {"type": "noop", "idempotency_key": "race"}).task
    # The loser's look-up ran before the winner committed: it saw nothing.
    real_first = TaskQuerySet.first
    calls = []

    def first_misses_once(self: TaskQuerySet) -> Task | None:
        calls.append(1)
        return None if len(calls) == 1 else real_first(self)

    monkeypatch.setattr(TaskQuerySet, "first", first_misses_once)
    loser = enqueue_or_get(tenant, {"type": "noop", "idempotency_key": "race"})
    monkeypatch.undo()
    assert calls, "the existing-key look-up was not made through QuerySet.first()"
    assert loser.created is False
    assert loser.task.pk == winner.pk
    assert Task.objects.count() == 1
    enqueue("noop", tenant=tenant)  # the connection is still usable after the conflict
    assert Task.objects.count() == 2


def test_same_key_twice_in_one_batch_is_an_error(tenant: Tenant) -> None:
    with pytest.raises(InvalidBatch) as info:
        enqueue_many(
            [
                {"type": "noop", "idempotency_key": "dup"},
                {"type": "noop", "idempotency_key": "other"},
                {"type": "noop", "idempotency_key": "dup"},
            ],
            tenant=tenant,
        )
    assert [(i, f) for i, f, _ in info.value.errors] == [(2, "idempotency_key")]
    assert not Task.objects.exists()
