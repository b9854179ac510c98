"""Bulk enqueue (enqueue_many): all-or-nothing validation, batch limits, one INSERT per batch."""

from datetime import datetime
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs.conf import conf
from jobs.exceptions import InvalidBatch, InvalidTask
from jobs.lifecycle import Status
from jobs.models import Task
from jobs.services.enqueue import enqueue_many
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


def test_invalid_items_fail_the_whole_batch_and_write_nothing(tenant: Tenant) -> None:
    specs: list[Any] = [
        {"type": "noop"},
        {"type": "no_such_type"},
        {"type": "noop", "priority": 9},
        "not an object",
        {"type": "noop", "payload": "[1]"},
        {"type": "noop", "run_at": datetime(2999, 1, 1)},
        {"type": "sleep", "payload": {"seconds": 1}},
    ]
    with pytest.raises(InvalidBatch) as info:
        enqueue_many(specs, tenant=tenant)
    errors = info.value.errors
    assert [(index, field) for index, field, _ in errors] == [
        (1, "type"),
        (2, "priority"),
        (3, "task"),
        (4, "payload"),
        (5, "run_at"),
    ]
    assert all(message for _, _, message in errors)
    assert "noop" in errors[0][2]  # the unknown-type message lists the known types
    assert isinstance(info.value, InvalidTask)
    assert info.value.field == "tasks[1].type"
    assert not Task.objects.exists()


def test_batch_above_max_batch_is_rejected(tenant: Tenant, settings: Any) -> None:
    settings.JOBS = {**settings.JOBS, "MAX_BATCH": 5}
    with pytest.raises(InvalidTask) as info:
        enqueue_many([{"type": "noop"}] * 6, tenant=tenant)
    assert info.value.field == "tasks"
    assert "5" in info.value.message
    assert not Task.objects.exists()
    assert len(enqueue_many([{"type": "noop"}] * 5, tenant=tenant)) == 5


def test_empty_batch_writes_nothing(tenant: Tenant) -> None:
    assert enqueue_many([], tenant=tenant) == []
    assert not Task.objects.exists()


def _inserts(ctx: CaptureQueriesContext, table: str = "jobs_task") -> list[str]:
    """INSERT statements into ``table`` (the event outbox row is a separate, single INSERT)."""
    return [q["sql"] for q in ctx.captured_queries
            if q["sql"].lstrip().upper().startswith("INSERT") and table in q["sql"].split("(")[0]]


def test_enqueue_many_is_one_insert(tenant: Tenant) -> None:
    specs = [
        {"type": "noop" if i % 2 else "sleep", "priority": 1 + i % 5, "payload": {"i": i},
         **({"delay_seconds": 30} if i % 3 == 0 else {})}
        for i in range(50)
    ]
    with CaptureQueriesContext(connection) as ctx:
        results = enqueue_many(specs, tenant=tenant)
    assert len(_inserts(ctx)) == 1, _inserts(ctx)
    assert len(_inserts(ctx, "jobs_event")) == 1, "one outbox row for the whole batch"
    assert not [q for q in ctx.captured_queries if q["sql"].lstrip().upper().startswith(("UPDATE", "DELETE"))]
    assert len(results) == 50
    assert all(r.created for r in results)
    pks = [r.task.pk for r in results]
    assert None not in pks
    assert len(set(pks)) == 50
    stored = {t.pk: t for t in Task.objects.filter(tenant=tenant)}
    assert set(stored) == set(pks)
    # Results come back in the order of the specs.
    for i, r in enumerate(results):
        assert stored[r.task.pk].payload == {"i": i}
        assert stored[r.task.pk].priority == 1 + i % 5
        assert stored[r.task.pk].status == (Status.SCHEDULED if i % 3 == 0 else Status.PENDING)


def test_a_full_batch_is_still_one_insert(tenant: Tenant) -> None:
    size = conf().MAX_BATCH
    with CaptureQueriesContext(connection) as ctx:
        results = enqueue_many([{"type": "noop", "payload": {"n": 1}}] * size, tenant=tenant)
    assert len(_inserts(ctx)) == 1
    assert Task.objects.count() == size
    assert len({r.task.pk for r in results}) == size
