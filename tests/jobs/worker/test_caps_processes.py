"""A tenant's concurrency cap holds across two real supervisors (MariaDB), sampled from the database."""

import time

import pytest
from django.db.models import Count

from jobs.lifecycle import Status
from jobs.models import Task
from jobs.services.enqueue import enqueue_many
from tenants.models import Tenant

pytestmark = [pytest.mark.mariadb, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def running_by_tenant() -> dict[int, int]:
    return dict(Task.objects.filter(status=Status.RUNNING).values_list("tenant_id").annotate(n=Count("id"))
                .order_by())


def test_a_capped_tenant_never_runs_more_than_its_cap_across_two_supervisors(tenant, other_tenant, workers):
    cap = 2
    Tenant.objects.filter(pk=tenant.pk).update(max_running=cap)
    enqueue_many([{"type": "sleep", "payload": {"seconds": 0.5}}] * 30, tenant=tenant)
    enqueue_many([{"type": "sleep", "payload": {"seconds": 0.5}}] * 40, tenant=other_tenant)
    for name in ("a", "b"):
        workers.start("--processes", "2", "--threads", "4", env={"INSTANCE_ID": name})

    most, most_other, samples = 0, 0, 0
    deadline = time.monotonic() + 90
    while Task.objects.filter(tenant=tenant).exclude(status=Status.COMPLETED).exists():
        assert time.monotonic() < deadline, workers.log(0) + workers.log(1)
        counts = running_by_tenant()
        most = max(most, counts.get(tenant.pk, 0))
        most_other = max(most_other, counts.get(other_tenant.pk, 0))
        samples += 1
        time.sleep(0.05)
    assert samples > 50
    assert most == cap, f"the capped tenant peaked at {most} running (cap {cap})"
    # Uncapped work runs alongside on the slots the capped tenant may not take (16 in all).
    assert most_other > cap
    assert not Task.objects.filter(tenant=other_tenant).exclude(status=Status.COMPLETED).exists()
    # Both instances ran the capped tenant's tasks.
    assert {w.split(":")[0] for w in Task.objects.filter(tenant=tenant).values_list("worker", flat=True)} >= {"a", "b"}


def questions() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW GLOBAL STATUS LIKE 'Questions'")
        return int(cursor.fetchone()[1])


def test_a_tenant_at_its_cap_neither_blocks_others_nor_makes_the_dispatcher_spin(tenant, other_tenant,
                                                                                  inprocess_worker):
    from tests.support.waiting import wait_for

    Tenant.objects.filter(pk=tenant.pk).update(max_running=1)
    enqueue_many([{"type": "noop"}] * 11, tenant=tenant)
    # Its one slot is held elsewhere (another instance's long run): this worker may take none.
    held = Task.objects.filter(tenant=tenant).order_by("id").first()
    Task.objects.filter(pk=held.pk).update(status=Status.RUNNING, worker="elsewhere:1:w")
    enqueue_many([{"type": "noop"}] * 20, tenant=other_tenant)
    runtime = inprocess_worker.start(threads=4)
    wait_for(lambda: Task.objects.filter(tenant=other_tenant, status=Status.COMPLETED).count() == 20,
             timeout=20, what="the uncapped tenant's tasks")
    time.sleep(0.5)
    before, started = questions(), time.monotonic()
    time.sleep(2)
    rate = (questions() - before) / (time.monotonic() - started)
    # Idle but for the heartbeat, the promoter and a recheck of the capped tenant every
    # CAP_RECHECK_SECONDS or poll: a spinning dispatcher would send thousands a second.
    assert rate < 100, f"{rate:.0f} statements/s while the only ready tenant is at its cap"
    assert Task.objects.filter(tenant=tenant, status=Status.PENDING).count() == 10
    assert runtime.dispatcher.claimed == 20
    # The slot comes free: the capped tenant's work starts within a poll interval or so.
    Task.objects.filter(pk=held.pk).update(status=Status.COMPLETED)
    wait_for(lambda: not Task.objects.filter(tenant=tenant, status=Status.PENDING).exists(), timeout=20,
             what="the capped tenant's work after its slot came free")
