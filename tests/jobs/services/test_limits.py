"""``limits.overview``: tenant caps, concurrency keys and resources, from states the store makes."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs import clock
from jobs.lifecycle import Status
from jobs.models import Task
from jobs.services import limits, resources
from jobs.services.enqueue import enqueue, enqueue_many
from jobs.store import pauses, transitions
from tenants.models import Tenant
from tests.support.plans import plan_tables

pytestmark = pytest.mark.django_db


def claim(tenant: Tenant, n: int, worker: str = "w", *, capped: bool = False) -> list[Task]:
    return transitions.claim(worker=worker, asks={tenant.pk: n}, queues=None, lease_seconds=60,
                             capped={tenant.pk} if capped else ())


@pytest.fixture(autouse=True)
def _fresh_pauses() -> None:
    pauses.invalidate()


def test_nothing_limited_gives_empty_tables(tenant: Tenant) -> None:
    enqueue("noop", tenant=tenant)
    result = limits.overview()
    assert (result.caps, result.keys, result.resources) == ([], [], [])
    assert not (result.caps_cut or result.keys_cut or result.sampled)


def test_caps_count_running_and_what_the_cap_holds_back(tenant: Tenant, other_tenant: Tenant) -> None:
    Tenant.objects.filter(pk=tenant.pk).update(max_running=2)
    Tenant.objects.filter(pk=other_tenant.pk).update(max_running=5)
    enqueue_many([{"type": "noop"}] * 5, tenant=tenant)
    enqueue_many([{"type": "noop"}] * 3, tenant=other_tenant)
    assert len(claim(tenant, 5, capped=True)) == 2
    assert len(claim(other_tenant, 1, capped=True)) == 1
    caps = {c.slug: c for c in limits.overview().caps}
    acme, globex = caps["acme"], caps["globex"]
    assert (acme.cap, acme.running, acme.waiting, acme.at_cap) == (2, 2, 3, True)
    # Below its cap a tenant's pending tasks wait for a worker, not for the cap.
    assert (globex.cap, globex.running, globex.waiting, globex.at_cap, globex.room) == (5, 1, 0, False, 4)


def test_keys_show_the_limit_the_holders_and_the_blocked(tenant: Tenant, other_tenant: Tenant) -> None:
    enqueue_many([{"type": "noop", "concurrency_key": "acct-1", "concurrency_limit": 2}] * 5, tenant=tenant)
    enqueue_many([{"type": "noop", "concurrency_key": "acct-2"}] * 1, tenant=tenant)
    enqueue_many([{"type": "noop", "concurrency_key": "acct-1"}] * 2, tenant=other_tenant)
    enqueue("noop", tenant=tenant, concurrency_key="idle")  # pending only: not in use
    got = claim(tenant, 5, worker="w1")
    assert len(got) == 2 and {t.concurrency_key for t in got} == {"acct-1"}
    claim(other_tenant, 2, worker="w2")
    keys = {(k.slug, k.key): k for k in limits.overview().keys}
    assert set(keys) == {("acme", "acct-1"), ("globex", "acct-1")}
    acct1 = keys[("acme", "acct-1")]
    assert (acct1.limit, acct1.running, acct1.blocked) == (2, 2, 3)
    assert sorted(h.task_id for h in acct1.holders) == sorted(t.pk for t in got)
    assert {h.worker for h in acct1.holders} == {"w1"}
    globex = keys[("globex", "acct-1")]
    assert (globex.limit, globex.running, globex.blocked) == (1, 1, 1)
    # Busiest first.
    assert next((k.slug, k.key) for k in limits.overview().keys) == ("acme", "acct-1")


def test_a_key_with_only_blocked_tasks_takes_the_head_blocked_limit(tenant: Tenant) -> None:
    enqueue_many([{"type": "noop", "concurrency_key": "k", "concurrency_limit": 3}] * 2, tenant=tenant)
    Task.objects.filter(tenant=tenant).update(status=Status.BLOCKED, blocked_on="key")
    (k,) = limits.overview().keys
    assert (k.key, k.limit, k.running, k.blocked, k.holders) == ("k", 3, 0, 2, [])


def test_the_keys_shown_are_capped_busiest_first(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "KEYS", 2)
    enqueue_many([{"type": "noop", "concurrency_key": f"k{i}"} for i in range(4) for _ in range(i + 1)],
                 tenant=tenant)
    Task.objects.filter(tenant=tenant).update(status=Status.BLOCKED, blocked_on="key")
    shown, cut = limits.keys()
    assert cut and len(shown) == 2
    assert shown[0].blocked >= shown[1].blocked


def test_resources_show_tokens_and_throttled_tasks(tenant: Tenant) -> None:
    resources.define("partner-api", rate=1, per_seconds=60)
    resources.define("per-acct", rate=5, per_seconds=1, per_tenant=True)
    enqueue_many([{"type": "noop", "resource": "partner-api"}] * 3, tenant=tenant)
    assert len(claim(tenant, 3)) == 1  # the window's one start; the other two wait for tokens
    assert Task.objects.filter(status=Status.SCHEDULED, blocked_on="resource").count() == 2
    by_name = {t.state.resource.name: t for t in limits.overview().resources}
    api = by_name["partner-api"]
    assert api.state.available == 0 and api.state.next_at is not None and api.state.next_at > clock.now()
    assert api.waiting == 2
    acct = by_name["per-acct"]
    assert acct.state.available is None and acct.waiting == 0


def test_counts_stop_at_their_bound(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "BOUND", 3)
    Tenant.objects.filter(pk=tenant.pk).update(max_running=1)
    enqueue_many([{"type": "noop"}] * 6, tenant=tenant)
    claim(tenant, 6, capped=True)
    (cap,) = limits.overview().caps
    assert (cap.running, cap.waiting, cap.waiting_bounded) == (1, 3, True)


@pytest.mark.mariadb
@pytest.mark.django_db(transaction=True)
def test_the_keys_queries_are_served_by_the_gate_index(tenant: Tenant) -> None:
    enqueue_many([{"type": "noop", "concurrency_key": f"k{i % 50}"} for i in range(1000)], tenant=tenant)
    enqueue_many([{"type": "noop"} for _ in range(1000)], tenant=tenant)
    keyed = Task.objects.filter(concurrency_key__isnull=False)
    Task.objects.filter(pk__in=list(keyed.values_list("pk", flat=True)[:100])).update(status=Status.RUNNING)
    keyed.filter(status=Status.PENDING).update(status=Status.BLOCKED, blocked_on="key")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE TABLE jobs_task")
        cursor.fetchall()
    with CaptureQueriesContext(connection) as queries:
        shown, _ = limits.keys()
    assert len(shown) == 50
    task_reads = [q["sql"] for q in queries.captured_queries if "jobs_task" in q["sql"]]
    assert task_reads
    for sql in task_reads:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN FORMAT=JSON " + sql)
            plan = json.loads(cursor.fetchone()[0])
        reads = [t for t in plan_tables(plan) if t["table_name"] == "jobs_task"]
        assert reads, (sql, plan)
        # Every read of jobs_task is a range (or ref) of task_gate_idx, never a scan; the holders'
        # details are read by primary key.
        index = "PRIMARY" if "`jobs_task`.`id` IN (" in sql else "task_gate_idx"
        for read in reads:
            assert read.get("key") == index and read.get("access_type") != "ALL", (sql, read)
