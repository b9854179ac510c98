"""Tenant concurrency caps (``Tenant.max_running``) in the claim: exact under the tenant's row lock."""

import threading
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs.fairness import TenantCache
from jobs.lifecycle import Status
from jobs.models import Task
from jobs.services.enqueue import enqueue_many
from jobs.store import transitions
from tenants.models import Tenant


def claim(tenant: Tenant, n: int, *, worker: str = "w", at_cap: set[int] | None = None) -> list[Task]:
    return transitions.claim(worker=worker, asks={tenant.pk: n}, queues=None, lease_seconds=60,
                             capped={tenant.pk}, at_cap=at_cap)


def running(tenant: Tenant) -> int:
    return Task.objects.filter(tenant=tenant, status=Status.RUNNING).count()


@pytest.mark.django_db
def test_a_claim_takes_no_more_than_the_cap_leaves(tenant: Tenant) -> None:
    Tenant.objects.filter(pk=tenant.pk).update(max_running=3)
    enqueue_many([{"type": "noop"}] * 10, tenant=tenant)
    at_cap: set[int] = set()
    assert len(claim(tenant, 10, at_cap=at_cap)) == 3
    assert at_cap == {tenant.pk}
    # Tasks claimed by another worker count too: nothing is left for this one.
    assert claim(tenant, 10, worker="other") == []
    assert running(tenant) == 3


@pytest.mark.django_db
def test_the_count_includes_other_workers_and_frees_as_runs_end(tenant: Tenant) -> None:
    enqueue_many([{"type": "noop"}] * 10, tenant=tenant)
    assert len(transitions.claim(worker="elsewhere", asks={tenant.pk: 2}, queues=None, lease_seconds=60)) == 2
    Tenant.objects.filter(pk=tenant.pk).update(max_running=3)
    assert len(claim(tenant, 5)) == 1
    Task.objects.filter(tenant=tenant, worker="elsewhere").update(status=Status.COMPLETED)
    assert len(claim(tenant, 5)) == 2
    assert running(tenant) == 3


@pytest.mark.django_db
def test_no_cap_is_unlimited_and_a_lifted_cap_is_read_under_the_lock(tenant: Tenant) -> None:
    enqueue_many([{"type": "noop"}] * 10, tenant=tenant)
    # The caller's cache still thinks the tenant is capped: the locking SELECT re-reads the cap.
    at_cap: set[int] = set()
    assert len(claim(tenant, 8, at_cap=at_cap)) == 8
    assert at_cap == set()


@pytest.mark.django_db
def test_lowering_the_cap_below_running_claims_nothing_more(tenant: Tenant) -> None:
    enqueue_many([{"type": "noop"}] * 10, tenant=tenant)
    Tenant.objects.filter(pk=tenant.pk).update(max_running=5)
    assert len(claim(tenant, 10)) == 5
    Tenant.objects.filter(pk=tenant.pk).update(max_running=2)
    assert claim(tenant, 10) == []
    assert running(tenant) == 5
    Task.objects.filter(pk__in=list(Task.objects.filter(status=Status.RUNNING).values_list("pk", flat=True)[:4])
                        ).update(status=Status.COMPLETED)
    assert len(claim(tenant, 10)) == 1  # one running, cap 2


@pytest.mark.django_db
def test_caps_apply_per_tenant_in_one_claim(tenant: Tenant, other_tenant: Tenant) -> None:
    Tenant.objects.filter(pk=tenant.pk).update(max_running=1)
    enqueue_many([{"type": "noop"}] * 5, tenant=tenant)
    enqueue_many([{"type": "noop"}] * 5, tenant=other_tenant)
    at_cap: set[int] = set()
    got = transitions.claim(worker="w", asks={tenant.pk: 5, other_tenant.pk: 5}, queues=None, lease_seconds=60,
                            capped={tenant.pk, other_tenant.pk}, at_cap=at_cap)
    assert sorted(t.tenant_id for t in got) == [tenant.pk] + [other_tenant.pk] * 5
    assert at_cap == {tenant.pk}


@pytest.mark.django_db
def test_the_uncapped_path_costs_no_query_more(tenant: Tenant) -> None:
    enqueue_many([{"type": "noop"}] * 20, tenant=tenant)

    def queries(**kwargs: object) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert len(transitions.claim(worker="w", asks={tenant.pk: 5}, queues=None, lease_seconds=60,
                                         **kwargs)) == 5  # type: ignore[arg-type]
        return len(ctx.captured_queries)

    before = queries()
    assert queries(capped=set()) == before
    Tenant.objects.filter(pk=tenant.pk).update(max_running=100)
    assert queries(capped={tenant.pk}) == before + 2  # the locking SELECT and the running count


@pytest.mark.django_db
def test_tenant_cache_knows_which_tenants_are_capped(tenant: Tenant, other_tenant: Tenant) -> None:
    Tenant.objects.filter(pk=tenant.pk).update(max_running=2)
    cache = TenantCache()
    assert cache.capped([tenant.pk, other_tenant.pk]) == {tenant.pk}


@pytest.mark.mariadb
@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_on_separate_connections_never_exceed_the_cap(tenant: Tenant) -> None:
    cap, threads = 3, 8
    Tenant.objects.filter(pk=tenant.pk).update(max_running=cap)
    enqueue_many([{"type": "noop"}] * 400, tenant=tenant)
    stop = threading.Event()
    errors: list[BaseException] = []
    most = 0

    def claimer(index: int) -> None:
        try:
            while not stop.is_set():
                got = claim(tenant, 4, worker=f"w{index}")
                if got:
                    time.sleep(0.002)
                    # Finish what this thread holds, freeing room for the others.
                    Task.objects.filter(pk__in=[t.pk for t in got]).update(status=Status.COMPLETED)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    pool = [threading.Thread(target=claimer, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    try:
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline and Task.objects.filter(status=Status.PENDING).exists():
            most = max(most, running(tenant))
    finally:
        stop.set()
        for t in pool:
            t.join(30)
    assert not errors, errors
    assert 0 < most <= cap
    done = Task.objects.filter(tenant=tenant, status=Status.COMPLETED).count()
    assert done > 50, "the claimers made progress"


@pytest.mark.mariadb
@pytest.mark.django_db(transaction=True)
def test_claims_of_several_capped_tenants_beside_writers_of_both_never_deadlock(tenant: Tenant,
                                                                               other_tenant: Tenant) -> None:
    """Claimers ask both capped tenants in either order while a writer inserts rows of both in one
    transaction (foreign-key checks: shared locks on both tenant rows, as the completer's events
    do). No claim may fail with a deadlock, and neither cap is exceeded."""
    Tenant.objects.filter(pk__in=[tenant.pk, other_tenant.pk]).update(max_running=2)
    enqueue_many([{"type": "noop"}] * 300, tenant=tenant)
    enqueue_many([{"type": "noop"}] * 300, tenant=other_tenant)
    pair = [tenant, other_tenant]
    stop = threading.Event()
    errors: list[BaseException] = []
    most = {t.pk: 0 for t in pair}

    def claimer(index: int) -> None:
        try:
            while not stop.is_set():
                order = pair if index % 2 else pair[::-1]
                got = transitions.claim(worker=f"w{index}", asks={t.pk: 3 for t in order}, queues=None,
                                        lease_seconds=60, capped={t.pk for t in pair})
                Task.objects.filter(pk__in=[t.pk for t in got]).update(status=Status.COMPLETED)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    def writer() -> None:
        try:
            from django.db import transaction

            n = 0
            while not stop.is_set():
                order = pair if n % 2 else pair[::-1]
                with transaction.atomic():
                    for t in order:
                        enqueue_many([{"type": "noop", "delay_seconds": 600}], tenant=t)
                        time.sleep(0.001)
                n += 1
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    pool = [threading.Thread(target=claimer, args=(i,)) for i in range(6)] + [threading.Thread(target=writer)]
    for t in pool:
        t.start()
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            for t in pair:
                most[t.pk] = max(most[t.pk], running(t))
    finally:
        stop.set()
        for t in pool:
            t.join(30)
    assert not errors, errors
    assert all(0 < n <= 2 for n in most.values()), most


@pytest.mark.mariadb
@pytest.mark.django_db(transaction=True)
def test_the_running_count_is_served_by_the_claim_index(tenant: Tenant, other_tenant: Tenant) -> None:
    import json

    for t in (tenant, other_tenant):
        enqueue_many([{"type": "noop"}] * 500, tenant=t)
    Task.objects.filter(pk__in=list(Task.objects.values_list("pk", flat=True)[:300])).update(status=Status.RUNNING)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE TABLE jobs_task")
        cursor.fetchall()
    qs = Task.objects.running_by_tenant([tenant.pk])
    assert dict(qs) == {tenant.pk: Task.objects.filter(tenant=tenant, status=Status.RUNNING).count()}
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN FORMAT=JSON " + sql, params)
        plan = json.loads(cursor.fetchone()[0])
    text = json.dumps(plan)
    assert "task_claim_idx" in text and "filesort" not in text, plan
