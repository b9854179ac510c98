"""Enqueueing unique tasks from Python: duplicates, the window, batches, the type's default, bad values."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from jobs import clock
from jobs.exceptions import InvalidBatch, InvalidTask
from jobs.lifecycle import Status
from jobs.models import Task
from jobs.registry import TaskType, registry, task
from jobs.services.enqueue import enqueue_many, enqueue_or_get
from jobs.store import finish
from jobs.unique import MAX_UNIQUE_FOR
from tenants.models import Tenant
from tests.support.builders import claim
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def spec(key: str | None = "k", **fields: Any) -> dict[str, Any]:
    return {"type": "noop", **({"unique_key": key} if key is not None else {}), **fields}


def test_a_key_is_per_tenant_and_apart_from_idempotency_keys(tenant: Tenant, other_tenant: Tenant) -> None:
    first = enqueue_or_get(tenant, spec(idempotency_key="req-1"))
    assert first.created
    # Another request (another idempotency key) for the same work: a duplicate, not a replay.
    dup = enqueue_or_get(tenant, spec(idempotency_key="req-2"))
    assert (dup.created, dup.duplicate, dup.task.pk) == (False, True, first.task.pk)
    # The same request again: a replay (its own kind of answer).
    replay = enqueue_or_get(tenant, spec(idempotency_key="req-1"))
    assert (replay.created, replay.duplicate, replay.task.pk) == (False, False, first.task.pk)
    assert enqueue_or_get(other_tenant, spec()).created
    assert not Task.objects.filter(idempotency_key="req-2").exists()


def test_the_window_holds_a_completed_key_until_it_ends(tenant: Tenant) -> None:
    states = ["waiting", "running", "completed"]
    first = enqueue_or_get(tenant, spec(unique_for=1, unique_states=states)).task
    assert first.unique_until is not None and first.unique_until > first.created_at
    done = claim(first)
    finish.write([finish.succeeded(done, "ok")], fence=Q(worker="w1"))
    assert Task.objects.get(pk=first.pk).status == Status.COMPLETED
    within = enqueue_or_get(tenant, spec(unique_for=1, unique_states=states))
    assert (within.created, within.duplicate, within.task.pk) == (False, True, first.pk)
    wait_for(lambda: clock.now() > first.unique_until, timeout=10, what="the window to end")
    after = enqueue_or_get(tenant, spec(unique_for=1, unique_states=states))
    assert after.created and after.task.pk != first.pk
    first.refresh_from_db()
    assert first.unique_active is None and first.unique_key == "k"  # the stale holder's column is cleared
    assert Task.objects.get(pk=after.task.pk).unique_active == "k"


def test_without_a_window_a_completed_key_is_held_for_good(tenant: Tenant) -> None:
    first = enqueue_or_get(tenant, spec(unique_states=["waiting", "running", "completed"])).task
    finish.write([finish.succeeded(claim(first), "ok")], fence=Q(worker="w1"))
    assert enqueue_or_get(tenant, spec()).duplicate


def test_a_batch_answers_repeats_within_it_with_the_first_one(tenant: Tenant) -> None:
    results = enqueue_many([spec("a"), spec("b"), spec("a"), spec(None), spec("b"), spec("a")], tenant=tenant)
    assert [(r.created, r.duplicate) for r in results] == [
        (True, False), (True, False), (False, True), (True, False), (False, True), (False, True)]
    a, b = results[0].task.pk, results[1].task.pk
    assert [results[i].task.pk for i in (2, 4, 5)] == [a, b, a]
    assert Task.objects.filter(tenant=tenant).count() == 3


def test_a_batch_answers_keys_held_by_earlier_batches(tenant: Tenant) -> None:
    first = enqueue_many([spec("a"), spec("b", priority=5)], tenant=tenant)
    finish.write([finish.succeeded(claim(first[1].task), "ok")], fence=Q(worker="w1"))  # b is let go
    second = enqueue_many([spec("a"), spec("b"), spec("c")], tenant=tenant)
    assert [(r.created, r.duplicate) for r in second] == [(False, True), (True, False), (True, False)]
    assert second[0].task.pk == first[0].task.pk
    assert second[1].task.pk != first[1].task.pk


def test_a_batch_looks_its_keys_up_once_and_inserts_once(tenant: Tenant) -> None:
    enqueue_many([spec("held")], tenant=tenant)
    specs = [spec(f"k{i % 50}") for i in range(200)] + [spec("held")]
    with CaptureQueriesContext(connection) as queries:
        results = enqueue_many(specs, tenant=tenant)
    assert sum(r.created for r in results) == 50
    lookups = [q["sql"] for q in queries if "unique_active" in q["sql"] and q["sql"].startswith("SELECT")]
    inserts = [q["sql"] for q in queries if q["sql"].startswith("INSERT INTO") and "jobs_task" in q["sql"]
               and "jobs_task_" not in q["sql"].split("(")[0]]
    assert len(lookups) == 1 and len(inserts) == 1, (lookups, inserts)


@pytest.mark.parametrize(("fields", "field"), [
    ({"unique_key": ""}, "unique_key"),
    ({"unique_key": "x" * 256}, "unique_key"),
    ({"unique_key": 7}, "unique_key"),
    ({"unique_key": "k", "unique_for": 0}, "unique_for"),
    ({"unique_key": "k", "unique_for": MAX_UNIQUE_FOR + 1}, "unique_for"),
    ({"unique_key": "k", "unique_for": "soon"}, "unique_for"),
    ({"unique_key": "k", "unique_for": True}, "unique_for"),
    ({"unique_key": "k", "unique_states": []}, "unique_states"),
    ({"unique_key": "k", "unique_states": "waiting"}, "unique_states"),
    ({"unique_key": "k", "unique_states": ["waiting", "done"]}, "unique_states"),
    ({"unique_key": "k", "unique_states": ["running"]}, "unique_states"),
    ({"unique_key": "k", "unique_states": ["waiting", "completed"]}, "unique_states"),
    ({"unique_for": 60}, "unique_for"),
    ({"unique_states": ["waiting"]}, "unique_states"),
])
def test_bad_values_name_their_field(tenant: Tenant, fields: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidTask) as caught:
        enqueue_or_get(tenant, {"type": "noop", **fields})
    assert caught.value.field == field
    with pytest.raises(InvalidBatch) as batch:
        enqueue_many([spec("fine"), {"type": "noop", **fields}], tenant=tenant)
    assert f"tasks[1].{field}" in str(batch.value)
    assert not Task.objects.exists()


@pytest.fixture
def per_account() -> Iterator[str]:
    @task("unique_per_account", unique_key=lambda payload: payload.get("account"), unique_for=3600,
          unique_states=["waiting", "running", "completed"])
    def handler(payload: dict[str, Any], ctx: Any) -> None:
        return None

    yield "unique_per_account"
    registry._types.pop("unique_per_account", None)


def test_a_type_s_default_key_comes_from_the_payload(tenant: Tenant, per_account: str) -> None:
    first = enqueue_or_get(tenant, {"type": per_account, "payload": {"account": 7}}).task
    assert (first.unique_key, first.unique_active, first.unique_states) == ("7", "7", 1 | 2 | 4)
    assert first.unique_until is not None and round((first.unique_until - first.created_at).total_seconds()) == 3600
    again = enqueue_or_get(tenant, {"type": per_account, "payload": {"account": 7, "note": "other body"}})
    assert again.duplicate and again.task.pk == first.pk
    # The function returned None: not unique.
    plain = [enqueue_or_get(tenant, {"type": per_account, "payload": {}}) for _ in range(2)]
    assert all(r.created and r.task.unique_active is None for r in plain)
    # The request's own key wins over the type's, with the type's window and states.
    own = enqueue_or_get(tenant, {"type": per_account, "payload": {"account": 7}, "unique_key": "mine"}).task
    assert (own.unique_active, own.unique_states) == ("mine", 1 | 2 | 4)


def test_a_type_s_key_function_that_raises_is_an_error_on_unique_key(tenant: Tenant) -> None:
    registry.register(TaskType(name="unique_broken", func=lambda payload, ctx: None,
                               unique_key=lambda payload: payload["account"]))
    try:
        with pytest.raises(InvalidTask) as caught:
            enqueue_or_get(tenant, {"type": "unique_broken", "payload": {}})
        assert caught.value.field == "unique_key" and "KeyError" in caught.value.message
    finally:
        registry._types.pop("unique_broken", None)


@pytest.mark.parametrize("options", [{"unique_for": 0}, {"unique_states": ("running",)},
                                     {"unique_states": ("waiting", "finished")}])
def test_a_type_with_bad_unique_defaults_is_refused_at_registration(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="task type 'bad_unique': unique_"):
        TaskType(name="bad_unique", func=lambda payload, ctx: None, **options)
