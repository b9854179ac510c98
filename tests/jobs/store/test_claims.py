"""The claim query on MariaDB: served by its index, and locking only what it returns."""

import json
import threading

import pytest
from django.db import connection, transaction
from django.utils import timezone

from jobs.lifecycle import Status
from jobs.models import Task
from jobs.services.enqueue import enqueue_many
from jobs.store import transitions

pytestmark = [pytest.mark.mariadb, pytest.mark.django_db(transaction=True)]


def claim_select(tenant_id: int, limit: int = 8):
    return (
        Task.objects.filter(status=Status.PENDING, tenant_id=tenant_id)
        .order_by("-priority", "id")
        .select_for_update(skip_locked=True)[:limit]
    )


def explain(qs) -> dict:
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN FORMAT=JSON " + sql, params)
        return json.loads(cursor.fetchone()[0])


def test_claim_query_uses_the_claim_index_without_filesort(tenant, other_tenant):
    for t in (tenant, other_tenant):
        for _ in range(4):
            enqueue_many([{"type": "noop", "priority": p} for p in (1, 2, 3, 4, 5)] * 100, tenant=t)
    # Most of a real table is finished work.
    ids = list(Task.objects.order_by("id").values_list("id", flat=True)[:3000])
    Task.objects.filter(pk__in=ids).update(status=Status.COMPLETED)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE TABLE jobs_task")
        cursor.fetchall()
    with transaction.atomic():
        plan = explain(claim_select(tenant.pk))
    text = json.dumps(plan)
    assert "filesort" not in text, plan
    table = plan["query_block"].get("table") or plan["query_block"]["nested_loop"][0]["table"]
    assert table["key"] == "task_claim_idx", plan


def test_ready_tenants_come_from_one_index_probe_per_tenant(tenant, other_tenant):
    from tenants.models import Tenant

    idle = Tenant.objects.create(name="Idle", slug="idle")
    for t in (tenant, other_tenant):
        enqueue_many([{"type": "noop"}] * 200, tenant=t)
    enqueue_many([{"type": "noop", "delay_seconds": 600}], tenant=idle)  # scheduled, not ready
    plan = explain(Task.objects.ready_tenants().values_list("pk", flat=True))
    text = json.dumps(plan)
    # The per-tenant EXISTS probes the claim index; it never reads the whole pending range.
    assert "task_claim_idx" in text and "filesort" not in text, plan
    assert Task.objects.ready_tenant_ids() == sorted([tenant.pk, other_tenant.pk])


def test_skip_locked_claims_pass_over_rows_locked_by_another_connection(tenant):
    # A backlog, with statistics, as a real queue has: on a table of a few rows (or one never
    # analysed) MariaDB prefers reading every pending row and sorting them, which locks them all
    # (a claim racing it then gets nothing); this test would depend on the tests run before it.
    enqueue_many([{"type": "noop"}] * 1000, tenant=tenant)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE TABLE jobs_task")
        cursor.fetchall()
    locked: list[int] = []
    holding = threading.Event()
    release = threading.Event()

    def hold_locks() -> None:
        # A second connection (this thread's own) claims five rows and keeps them locked.
        with transaction.atomic():
            locked.extend(t.pk for t in claim_select(tenant.pk, 5))
            holding.set()
            release.wait(30)
        connection.close()

    holder = threading.Thread(target=hold_locks)
    holder.start()
    try:
        assert holding.wait(10)
        claimed = transitions.claim(worker="w", asks={tenant.pk: 10}, queues=None, lease_seconds=30)
    finally:
        release.set()
        holder.join()
    assert len(locked) == 5
    assert len(claimed) == 10
    assert not {t.pk for t in claimed} & set(locked)
    assert Task.objects.filter(status=Status.RUNNING, worker="w").count() == 10


def test_claim_respects_queue_filter_and_marks_rows_running(tenant):
    enqueue_many([{"type": "noop", "queue": "mail"}] * 3 + [{"type": "noop", "queue": "reports"}] * 3, tenant=tenant)
    claimed = transitions.claim(worker="w", asks={tenant.pk: 10}, queues=["mail"], lease_seconds=30)
    assert {t.queue for t in claimed} == {"mail"} and len(claimed) == 3
    for task in Task.objects.filter(pk__in=[t.pk for t in claimed]):
        # Claimed, not started: no attempt charged and no start until the handler begins.
        assert (task.status, task.attempts, task.run, task.worker, task.started_at) == (Status.RUNNING, 0, 1, "w", None)
        assert task.lease_expires_at > timezone.now()
