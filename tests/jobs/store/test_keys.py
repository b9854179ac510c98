"""Concurrency keys and pauses at claim time: blocked rows leave the ready set, a run's end hands its slot on."""

import json
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from jobs import clock
from jobs.lifecycle import Status
from jobs.models import ConcurrencyKey, Event, Pause, Task
from jobs.services import maintenance
from jobs.services.enqueue import enqueue, enqueue_many
from jobs.store import finish, gates, pauses, transitions
from tenants.models import Tenant


def claim(tenant: Tenant, n: int, *, worker: str = "w", held: list[int] | None = None) -> list[Task]:
    return transitions.claim(worker=worker, asks={tenant.pk: n}, queues=None, lease_seconds=60, held=held)


def statuses(tenant: Tenant) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in Task.objects.filter(tenant=tenant).values_list("status", flat=True):
        out[s] = out.get(s, 0) + 1
    return out


def complete(tasks: list[Task], worker: str = "w") -> int:
    for t in tasks:
        t.attempts += 1
    return finish.write([finish.succeeded(t, None) for t in tasks], fence=Q(worker=worker))


def events(name: str) -> int:
    return sum(1 for e in Event.objects.all() for c in e.changes if c["event"] == name)


@pytest.fixture(autouse=True)
def _fresh_pauses() -> None:
    pauses.invalidate()


@pytest.mark.django_db(transaction=True)
def test_enqueue_writes_the_key_row_once(tenant: Tenant) -> None:
    enqueue_many([{"type": "noop", "concurrency_key": "acct-1"}] * 3, tenant=tenant)
    enqueue("noop", tenant=tenant, concurrency_key="acct-1")
    assert list(ConcurrencyKey.objects.values_list("tenant_id", "key")) == [(tenant.pk, "acct-1")]


@pytest.mark.django_db(transaction=True)
def test_a_limit_1_key_admits_one_and_blocks_the_rest_without_holding_up_other_work(tenant: Tenant) -> None:
    enqueue_many([{"type": "noop", "concurrency_key": "k", "priority": 5}] * 4, tenant=tenant)
    plain = enqueue_many([{"type": "noop"}] * 2, tenant=tenant)
    held: list[int] = []
    got = claim(tenant, 6, held=held)
    assert sum(1 for t in got if t.concurrency_key == "k") == 1
    assert held == [3]
    assert statuses(tenant) == {Status.RUNNING: 3, Status.BLOCKED: 3}
    assert set(Task.objects.filter(status=Status.BLOCKED).values_list("blocked_on", flat=True)) == {"key"}
    assert {e.task.pk for e in plain} <= {t.pk for t in got}, "the key's blocked tasks do not block other work"
    assert events("task.blocked") == 3
    # Blocked rows are not in the ready set: a new claim finds nothing and holds nothing.
    held.clear()
    assert claim(tenant, 6, held=held) == [] and held == []
    assert Task.objects.ready_tenant_ids() == []


@pytest.mark.django_db(transaction=True)
def test_the_run_s_end_hands_its_slot_to_the_next_blocked_task(tenant: Tenant) -> None:
    first = enqueue("noop", tenant=tenant, concurrency_key="k", priority=3)
    low = enqueue("noop", tenant=tenant, concurrency_key="k", priority=1)
    high = enqueue("noop", tenant=tenant, concurrency_key="k", priority=5)
    got = claim(tenant, 1)
    assert [t.pk for t in got] == [high.pk]
    claim(tenant, 5)  # meets first and low: blocks them
    assert statuses(tenant) == {Status.RUNNING: 1, Status.BLOCKED: 2}
    assert complete(got) == 1
    # The same transaction unblocked one task, the most urgent one.
    assert Task.objects.get(pk=first.pk).status == Status.PENDING
    assert Task.objects.get(pk=first.pk).blocked_on is None
    assert Task.objects.get(pk=low.pk).status == Status.BLOCKED
    assert events("task.unblocked") == 1
    assert [t.pk for t in claim(tenant, 5)] == [first.pk]


@pytest.mark.django_db(transaction=True)
def test_a_limit_of_n_admits_n_and_keys_are_per_tenant(tenant: Tenant, other_tenant: Tenant) -> None:
    enqueue_many([{"type": "noop", "concurrency_key": "k", "concurrency_limit": 3}] * 5, tenant=tenant)
    enqueue_many([{"type": "noop", "concurrency_key": "k", "concurrency_limit": 3}] * 5, tenant=other_tenant)
    got = transitions.claim(worker="w", asks={tenant.pk: 5, other_tenant.pk: 5}, queues=None, lease_seconds=60)
    assert sorted(t.tenant_id for t in got) == [tenant.pk] * 3 + [other_tenant.pk] * 3
    assert gates.holders_count([(tenant.pk, "k"), (other_tenant.pk, "k")]) == {(tenant.pk, "k"): 3,
                                                                               (other_tenant.pk, "k"): 3}


@pytest.mark.django_db(transaction=True)
def test_a_dead_holder_s_slot_comes_back_with_the_rescue(tenant: Tenant) -> None:
    enqueue_many([{"type": "noop", "concurrency_key": "k", "max_lost": 0}] * 2, tenant=tenant)
    got = claim(tenant, 2)
    assert len(got) == 1 and statuses(tenant) == {Status.RUNNING: 1, Status.BLOCKED: 1}
    # Its handler had started; then its worker died and the lease lapsed: lost, and with
    # max_lost 0 dead-lettered. The slot is free: the waiting task is handed it.
    Task.objects.filter(pk=got[0].pk).update(started_at=clock.now(), attempts=1,
                                             lease_expires_at=clock.now() - timedelta(seconds=1))
    assert maintenance.rescue_expired() == 1
    assert statuses(tenant) == {Status.FAILED: 1, Status.PENDING: 1}


@pytest.mark.django_db(transaction=True)
def test_a_holder_handed_back_keeps_its_turn_and_the_next_follows_its_end(tenant: Tenant) -> None:
    enqueue_many([{"type": "noop", "concurrency_key": "k"}] * 2, tenant=tenant)
    got = claim(tenant, 2)
    # Released at shutdown (never started): pending again, it takes the key's one slot at its
    # next claim, so nothing more is unblocked yet.
    assert transitions.release(worker="w", runs=[(got[0].pk, got[0].run)]) == 1
    assert statuses(tenant) == {Status.PENDING: 1, Status.BLOCKED: 1}
    again = claim(tenant, 2)
    assert [t.pk for t in again] == [got[0].pk]
    assert complete(again) == 1
    assert statuses(tenant) == {Status.COMPLETED: 1, Status.PENDING: 1}


@pytest.mark.django_db(transaction=True)
def test_the_sweep_unblocks_what_no_run_handed_on(tenant: Tenant) -> None:
    enqueue_many([{"type": "noop", "concurrency_key": "k"}] * 3, tenant=tenant)
    got = claim(tenant, 3)
    # A holder ended outside the store (an operator's SQL): no one handed its slot on.
    Task.objects.filter(pk=got[0].pk).update(status=Status.COMPLETED)
    assert maintenance.unblock_free_keys() == 1
    assert statuses(tenant) == {Status.COMPLETED: 1, Status.PENDING: 1, Status.BLOCKED: 1}
    assert maintenance.unblock_free_keys() == 0, "a free slot is handed on once"


@pytest.mark.django_db(transaction=True)
def test_a_key_locked_by_another_claim_leaves_its_tasks_pending(tenant: Tenant) -> None:
    enqueue_many([{"type": "noop", "concurrency_key": "k"}] * 2, tenant=tenant)
    # SQLite has no row locks: the busy path is shown on MariaDB (below); here the key row
    # missing (created by an older version) is made on the fly.
    ConcurrencyKey.objects.all().delete()
    assert len(claim(tenant, 2)) == 1
    assert ConcurrencyKey.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_paused_type_or_queue_is_blocked_and_a_paused_tenant_is_not_asked(tenant: Tenant,
                                                                             other_tenant: Tenant) -> None:
    enqueue_many([{"type": "noop"}] * 2 + [{"type": "fail"}] * 2 + [{"type": "noop", "queue": "slow"}], tenant=tenant)
    enqueue_many([{"type": "noop"}] * 2, tenant=other_tenant)
    Pause.objects.create(kind=Pause.Kind.TYPE, value="fail")
    Pause.objects.create(kind=Pause.Kind.QUEUE, value="slow")
    Pause.objects.create(kind=Pause.Kind.TENANT, value=other_tenant.slug)
    pauses.invalidate()
    got = transitions.claim(worker="w", asks={tenant.pk: 10, other_tenant.pk: 10}, queues=None, lease_seconds=60)
    assert sorted((t.tenant_id, t.type, t.queue) for t in got) == [(tenant.pk, "noop", "default")] * 2
    assert statuses(tenant) == {Status.RUNNING: 2, Status.BLOCKED: 3}
    assert set(Task.objects.filter(status=Status.BLOCKED).values_list("blocked_on", flat=True)) == {"pause"}
    assert statuses(other_tenant) == {Status.PENDING: 2}


@pytest.mark.django_db(transaction=True)
def test_no_gate_costs_the_claim_no_query(tenant: Tenant) -> None:
    enqueue_many([{"type": "noop"}] * 20, tenant=tenant)
    pauses.current()  # the cache is warm, as in a running dispatcher
    with CaptureQueriesContext(connection) as ctx:
        assert len(claim(tenant, 5)) == 5
    # The candidate SELECT, the UPDATE and the outbox INSERT (plus the transaction's own statements).
    own = ("SAVEPOINT", "RELEASE", "BEGIN", "COMMIT")
    sql = [q["sql"] for q in ctx.captured_queries if not q["sql"].startswith(own)]
    assert len(sql) == 3, sql


@pytest.mark.mariadb
@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_never_run_two_of_a_limit_1_key(tenant: Tenant) -> None:
    enqueue_many([{"type": "noop", "concurrency_key": f"k{i % 3}"} for i in range(150)]
                 + [{"type": "noop"}] * 50, tenant=tenant)
    stop = threading.Event()
    errors: list[BaseException] = []
    overlap: list[dict[str, int]] = []

    def claimer(index: int) -> None:
        try:
            while not stop.is_set():
                got = claim(tenant, 3, worker=f"w{index}")
                if got:
                    time.sleep(0.002)
                    complete(got, worker=f"w{index}")
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    pool = [threading.Thread(target=claimer, args=(i,)) for i in range(6)]
    for t in pool:
        t.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and Task.objects.exclude(status=Status.COMPLETED).exists():
            counts = gates.holders_count([(tenant.pk, f"k{i}") for i in range(3)])
            if any(n > 1 for n in counts.values()):
                overlap.append({k: n for (_, k), n in counts.items()})
    finally:
        stop.set()
        for t in pool:
            t.join(30)
    assert not errors, errors
    assert overlap == []
    assert statuses(tenant) == {Status.COMPLETED: 200}, "every blocked task was handed a slot in the end"


@pytest.mark.mariadb
@pytest.mark.django_db(transaction=True)
def test_the_key_count_and_unblock_are_served_by_the_gate_index(tenant: Tenant) -> None:
    enqueue_many([{"type": "noop", "concurrency_key": f"k{i % 50}"} for i in range(1000)], tenant=tenant)
    Task.objects.filter(pk__in=list(Task.objects.values_list("pk", flat=True)[:100])).update(status=Status.RUNNING)
    Task.objects.filter(status=Status.PENDING).update(status=Status.BLOCKED, blocked_on="key")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE TABLE jobs_task")
        cursor.fetchall()
    plans = []
    for qs in (Task.objects.filter(status=Status.RUNNING, tenant_id=tenant.pk, concurrency_key="k1"),
               Task.objects.filter(status=Status.BLOCKED, tenant_id=tenant.pk, concurrency_key="k1",
                                   blocked_on="key").order_by("-priority", "id")):
        sql, params = qs.values("pk").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN FORMAT=JSON " + sql, params)
            plans.append(json.loads(cursor.fetchone()[0]))
    for plan in plans:
        assert "task_gate_idx" in json.dumps(plan), plan


@pytest.mark.django_db(transaction=True)
def test_a_burst_worker_finishes_beside_a_paused_tenant(tenant: Tenant, other_tenant: Tenant, inprocess_worker) -> None:
    enqueue_many([{"type": "noop"}] * 5, tenant=tenant)
    enqueue_many([{"type": "noop"}] * 3, tenant=other_tenant)
    Pause.objects.create(kind=Pause.Kind.TENANT, value=other_tenant.slug)
    pauses.invalidate()
    inprocess_worker.burst(timeout=30, threads=2)
    assert inprocess_worker.exit_code == 0
    assert statuses(tenant) == {Status.COMPLETED: 5}
    assert statuses(other_tenant) == {Status.PENDING: 3}
