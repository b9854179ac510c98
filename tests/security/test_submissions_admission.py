"""Admission control over the API: a tenant's backlog caps (``max_pending``, ``max_pending_age_seconds``),
a 429 naming the cap that costs the rate limit nothing, on index-served bounded queries."""

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.lifecycle import Status
from jobs.models import Task
from jobs.services import admission
from tenants.models import Tenant
from tests.support.api import Caller, MakeApi, assert_problem
from tests.support.builders import add_task
from tests.support.plans import plan_tables
from tests.support.ratelimit import limited, noops, remaining

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_backlogs() -> Iterator[None]:
    """Admission caches each tenant's backlog per process, keyed by ids the database reuses."""
    admission.reset()
    yield
    admission.reset()


# =========================================================================== admission control


def capped(caller: Caller, **caps: int) -> Caller:
    Tenant.objects.filter(pk=caller.tenant.pk).update(**caps)
    return caller


def assert_admission_429(response: Any, cap: str, limit: int, left: int | None = None) -> dict[str, Any]:
    body = assert_problem(response, 429)
    assert body["type"].endswith("/admission")
    assert (body["cap"], body["limit"]) == (cap, limit)
    assert cap in body["detail"]
    assert int(response["Retry-After"]) >= 1 and body["retry_after"] == int(response["Retry-After"])
    # Never charged: the headers report the window as the last admission left it (``left``, when given).
    assert "RateLimit-Remaining" in response
    if left is not None:
        assert response["RateLimit-Remaining"] == str(left)
    return body


def test_max_pending_refuses_past_the_waiting_cap_and_charges_nothing(make_api: MakeApi) -> None:
    caller = capped(limited(make_api, 10), max_pending=3)
    add_task(caller.tenant, status=Status.SCHEDULED, run_at=timezone.now() + timedelta(hours=1))
    blocked = add_task(caller.tenant, status=Status.BLOCKED)
    add_task(caller.tenant, status=Status.COMPLETED)  # not waiting
    first = caller.submit()
    assert (first.status_code, remaining(first)) == (201, 9)
    body = assert_admission_429(caller.submit(), "max_pending", 3, left=9)
    assert body["waiting"] == 3
    assert "tenant limited has 3 waiting tasks" in body["detail"]
    assert Task.objects.filter(tenant=caller.tenant).count() == 4
    assert caller.post(f"/api/tasks/{blocked.pk}/cancel").status_code == 200
    admission.reset()  # past the cache's second
    again = caller.submit()
    assert (again.status_code, remaining(again)) == (201, 8)  # the refusal cost nothing


def test_a_batch_that_would_cross_max_pending_is_refused_whole(make_api: MakeApi) -> None:
    caller = capped(limited(make_api, 100), max_pending=5)
    assert caller.batch(noops(3)).status_code == 201
    body = assert_admission_429(caller.batch(noops(3)), "max_pending", 5)
    assert (body["waiting"], body["adding"]) == (3, 3)
    assert Task.objects.filter(tenant=caller.tenant).count() == 3
    response = caller.batch(noops(2))
    assert (response.status_code, remaining(response)) == (201, 95)
    assert_admission_429(caller.submit(), "max_pending", 5)


def test_max_pending_is_per_tenant(make_api: MakeApi, other_api: Caller) -> None:
    caller = capped(limited(make_api, 100), max_pending=1)
    assert caller.submit().status_code == 201
    assert_admission_429(caller.submit(), "max_pending", 1)
    assert other_api.batch(noops(5)).status_code == 201


def test_the_age_cap_refuses_while_the_oldest_due_task_waits_too_long(make_api: MakeApi) -> None:
    caller = capped(limited(make_api, 100), max_pending_age_seconds=60)
    now = timezone.now()
    # Old work that is not due, or not waiting, does not count.
    add_task(caller.tenant, status=Status.SCHEDULED, run_at=now + timedelta(minutes=5),
             created_at=now - timedelta(hours=1))
    add_task(caller.tenant, status=Status.COMPLETED, run_at=now - timedelta(hours=1))
    add_task(caller.tenant, priority=5, run_at=now - timedelta(seconds=10))
    assert caller.submit().status_code == 201
    admission.reset()
    add_task(caller.tenant, priority=1, run_at=now - timedelta(seconds=600))
    body = assert_admission_429(caller.submit(), "max_pending_age_seconds", 60)
    assert body["oldest_age_seconds"] >= 600
    assert_admission_429(caller.batch(noops(1)), "max_pending_age_seconds", 60)


def test_replays_are_answered_even_at_the_cap(make_api: MakeApi) -> None:
    caller = capped(limited(make_api, 100), max_pending=1)
    first = caller.submit(idempotency_key="k1")
    assert first.status_code == 201
    replay = caller.submit(idempotency_key="k1")
    assert (replay.status_code, replay.json()["id"]) == (200, first.json()["id"])
    assert caller.batch([{"type": "noop", "idempotency_key": "k1"}]).status_code == 201
    assert_admission_429(caller.submit(idempotency_key="k2"), "max_pending", 1)


@pytest.mark.mariadb
@pytest.mark.django_db(transaction=True)
def test_the_admission_queries_are_served_by_the_claim_index(tenant: Tenant, other_tenant: Tenant) -> None:
    from jobs.services.enqueue import enqueue_many

    for _ in range(4):
        for t in (tenant, other_tenant):
            enqueue_many([{"type": "noop", "priority": p} for p in (1, 2, 3, 4, 5)] * 100, tenant=t)
    # Most of a real table is finished work; some waits in the future.
    ids = list(Task.objects.order_by("id").values_list("id", flat=True)[:2500])
    Task.objects.filter(pk__in=ids).update(status=Status.COMPLETED)
    Task.objects.filter(pk__in=ids[:300]).update(status=Status.SCHEDULED)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE TABLE jobs_task")
        cursor.fetchall()
    with CaptureQueriesContext(connection) as queries:
        assert admission.waiting(tenant.pk, 100) == 101
        assert admission.oldest_due(tenant.pk) is not None
    assert len(queries.captured_queries) == 2
    plans = []
    for query in queries.captured_queries:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN FORMAT=JSON " + query["sql"])
            plan = json.loads(cursor.fetchone()[0])
        text = json.dumps(plan)
        assert "filesort" not in text, plan
        tasks = [t for t in plan_tables(plan)
                 if t.get("table_name") != "tenants_tenant" and not t["table_name"].startswith("<")]
        assert tasks and all(t.get("key") == "task_claim_idx" for t in tasks), plan
        plans.append(tasks)
    count, heads = plans
    assert count[0]["using_index"] is True, count  # the index alone answers: no row read
    # One probe per priority, each an equality on (status, tenant, priority): the head is its first entry.
    assert len(heads) == 5 and all(t["access_type"] == "ref" and len(t["ref"]) == 3 for t in heads), heads
    count_sql = queries.captured_queries[0]["sql"]
    assert "LIMIT 101" in count_sql, count_sql
