"""The health verdict (``jobs.services.health``): each reason from the rows that cause it, and only then."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.conf import conf
from jobs.lifecycle import Status
from jobs.models import Event, WorkerProcess
from jobs.services import health, maintenance
from tenants.models import Tenant
from tests.support.builders import add_task, add_worker, claim, error_entry, slot

pytestmark = pytest.mark.django_db


def codes(h: health.Health) -> set[str]:
    return {r.code for r in h.reasons}


def test_no_live_worker_is_down(tenant: Tenant) -> None:
    add_worker(9, heartbeat_age=conf().LEASE_SECONDS + 5)  # its lease lapsed: not alive
    h = health.assess()
    assert h.verdict == health.DOWN and codes(h) == {"no_workers"}
    assert h.reasons[0].filters == {"status": "pending"}


def test_idle_fleet_with_nothing_waiting_is_ok(tenant: Tenant) -> None:
    add_worker(1, slots=[slot(0), slot(1)])
    h = health.assess()
    assert h.verdict == health.OK and h.reasons == []
    assert (h.busy, h.slots, h.saturation, h.processes) == (0, 2, 0.0, 1)


def test_every_slot_busy_with_work_pending_is_saturated(tenant: Tenant) -> None:
    running = add_task(tenant, status=Status.RUNNING)
    add_worker(1, slots=[slot(0, running)])
    assert "saturated" not in codes(health.assess())  # full, but nothing waits
    add_task(tenant)
    h = health.assess()
    assert h.verdict == health.DEGRADED and "saturated" in codes(h) and h.saturation == 1.0


def test_stale_heartbeat_is_flagged_before_the_lease_lapses(tenant: Tenant) -> None:
    late = health.stale_seconds() + 1
    assert late < conf().LEASE_SECONDS  # still alive: the badge comes first
    add_worker(1, slots=[slot(0)])
    stuck = add_worker(2, slots=[slot(0)], heartbeat_age=late)
    h = health.assess()
    assert h.stale == [stuck.pk] and h.processes == 2
    assert "stale_heartbeat" in codes(h) and h.verdict == health.DEGRADED


def test_queue_latency_and_unserved_queue(tenant: Tenant) -> None:
    add_worker(1, slots=[slot(0), slot(1)])
    WorkerProcess.objects.update(queues="default")  # serves only "default"
    now = timezone.now()
    add_task(tenant, queue="default", run_at=now - timedelta(seconds=health.WAIT_DEGRADED_SECONDS + 30))
    add_task(tenant, queue="reports", run_at=now)
    add_task(tenant, queue="later", status=Status.SCHEDULED, run_at=now + timedelta(hours=1))  # not due
    h = health.assess()
    by_name = {q.name: q for q in h.queues}
    assert by_name["default"].oldest_wait is not None and by_name["default"].oldest_wait > 60
    assert by_name["later"].oldest_wait is None
    slow = next(r for r in h.reasons if r.code == "queue_latency")
    assert slow.filters == {"queue": "default", "status": "pending"}
    unserved = next(r for r in h.reasons if r.code == "unserved_queue")
    assert unserved.filters["queue"] == "reports"
    assert not any(r.filters.get("queue") == "later" for r in h.reasons)


def test_dead_letter_growth_compares_the_last_hour_with_the_one_before(tenant: Tenant) -> None:
    add_worker(1, slots=[slot(0)])
    now = timezone.now()
    for minutes in (70, 80):
        add_task(tenant, status=Status.FAILED, finished_at=now - timedelta(minutes=minutes))
    for _ in range(health.DEAD_LETTER_GROWTH_MIN - 1):
        add_task(tenant, status=Status.FAILED, finished_at=now - timedelta(minutes=5))
    h = health.assess()
    assert (h.dead_letter_last_hour, h.dead_letter_hour_before) == (4, 2)
    assert "dead_letter_growth" not in codes(h)  # below the floor: noise
    add_task(tenant, status=Status.FAILED, finished_at=now - timedelta(minutes=1))
    h = health.assess()
    growth = next(r for r in h.reasons if r.code == "dead_letter_growth")
    assert growth.filters["status"] == "failed" and "finished_after" in growth.filters


def test_retrying_is_a_back_off_not_a_delay(tenant: Tenant) -> None:
    add_worker(1, slots=[slot(0)])
    later = timezone.now() + timedelta(minutes=5)
    retry = add_task(tenant, status=Status.SCHEDULED, attempts=1, run_at=later,
                     errors=[error_entry(1, "ValueError", "boom")])
    add_task(tenant, status=Status.SCHEDULED, run_at=later + timedelta(minutes=1))  # delayed at submit
    add_task(tenant, status=Status.SCHEDULED, attempts=1, blocked_on="snooze", run_at=later)
    add_task(tenant, status=Status.SCHEDULED, attempts=2, blocked_on="resource", run_at=later)
    assert list(health.retrying().values_list("pk", flat=True)) == [retry.pk]
    assert health.delayed().count() == 3
    h = health.assess()
    assert h.retrying == 1 and not h.retrying_more and h.next_retry == later
    assert health.is_retrying(retry)


def test_lost_workers_from_the_rescue_events(tenant: Tenant) -> None:
    Event.objects.create(tenant=tenant, changes=[
        {"event": "task.rescued", "task": 11, "status": "pending", "error": "WorkerLost: worker h:1:a died"},
        {"event": "task.failed", "task": 12, "status": "failed",
         "error": "WorkerLost: worker h:1:a stopped renewing its lease"},
        {"event": "task.failed", "task": 13, "status": "failed", "error": "ValueError: boom"},
    ])
    Event.objects.create(tenant=tenant, created_at=timezone.now() - timedelta(hours=2), changes=[
        {"event": "task.rescued", "task": 14, "status": "pending", "error": "WorkerLost: worker old:1:a died"}])
    (lost,) = health.lost_workers(timezone.now())
    assert (lost.worker, lost.rescued, lost.dead_lettered) == ("h:1:a", [11], [12])


def test_lost_workers_read_what_the_real_rescue_records(tenant: Tenant) -> None:
    started = claim(add_task(tenant), worker="host-q:7:w")
    assert maintenance.rescue_worker("host-q:7:w") == 1
    (lost,) = health.lost_workers(timezone.now())
    assert (lost.worker, lost.why, lost.rescued) == ("host-q:7:w", "died", [started.pk])
