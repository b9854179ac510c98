"""GET /api/analytics, /analytics/types and /analytics/throughput: figures, percentiles, buckets."""

from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from django.utils import timezone

from jobs.models import TaskStat, ThroughputBucket
from jobs.store import rollups
from tests.support.api import Caller, assert_problem, when
from tests.support.builders import finish, make_task

pytestmark = pytest.mark.django_db


def test_analytics_of_a_fresh_tenant(api: Caller) -> None:
    body = api.get("/api/analytics").json()
    assert body["total"] == 0
    assert body["by_status"] == dict.fromkeys(
        ["pending", "scheduled", "blocked", "running", "completed", "failed", "cancelled"], 0)
    assert body["by_priority"] == {str(p): 0 for p in range(1, 6)}
    assert body["failure_rate"] == 0.0
    assert body["avg_execution_ms"] is None and body["p95_execution_ms"] is None
    assert body["avg_queue_wait_ms"] is None and body["p95_queue_wait_ms"] is None
    assert body["completed_last_hour"] == 0 and body["percentile_sample"] == 0


def test_analytics_overview_figures(api: Caller) -> None:
    t = api.tenant
    finish(make_task(t, priority=4), "completed", wait_ms=1000, exec_ms=100)
    finish(make_task(t, priority=4), "completed", wait_ms=2000, exec_ms=200)
    finish(make_task(t, priority=2), "completed", wait_ms=3000, exec_ms=300)
    finish(make_task(t, priority=1), "failed", wait_ms=4000, exec_ms=400)
    finish(make_task(t, priority=3), "cancelled", wait_ms=None, exec_ms=None)  # cancelled while waiting
    make_task(t, priority=5)
    make_task(t, priority=1)
    make_task(t, priority=3, status="running", started_at=timezone.now())
    make_task(t, priority=2, status="scheduled", run_at=timezone.now() + timedelta(hours=1))
    body = api.get("/api/analytics").json()
    assert body["by_status"] == {"pending": 2, "scheduled": 1, "blocked": 0, "running": 1, "completed": 3, "failed": 1,
                                 "cancelled": 1}
    assert body["total"] == 9
    assert body["by_priority"] == {"1": 2, "2": 2, "3": 2, "4": 2, "5": 1}
    assert body["failure_rate"] == 0.2  # dead-lettered / finished = 1 / 5
    assert body["avg_execution_ms"] == 250.0
    assert body["p95_execution_ms"] == 400.0
    assert body["avg_queue_wait_ms"] == 2500.0
    assert body["p95_queue_wait_ms"] == 4000.0
    assert body["completed_last_hour"] == 3
    assert body["percentile_sample"] == 4


def test_p95_over_twenty_finished_tasks(api: Caller) -> None:
    for ms in range(10, 210, 10):  # 10 … 200 ms
        finish(make_task(api.tenant), "completed", wait_ms=ms * 2, exec_ms=ms)
    body = api.get("/api/analytics").json()
    assert body["percentile_sample"] == 20
    assert body["p95_execution_ms"] == 190.0  # the 19th of 20 (nearest rank)
    assert body["p95_queue_wait_ms"] == 380.0
    assert body["avg_execution_ms"] == 105.0
    assert body["failure_rate"] == 0.0


def test_completed_last_hour_excludes_older_completions(api: Caller) -> None:
    old = timezone.now() - timedelta(hours=2)
    finish(make_task(api.tenant), "completed", wait_ms=1, exec_ms=1, finished_at=old)
    finish(make_task(api.tenant), "completed", wait_ms=1, exec_ms=1)
    finish(make_task(api.tenant), "failed", wait_ms=1, exec_ms=1)
    body = api.get("/api/analytics").json()
    assert body["by_status"]["completed"] == 2
    assert body["completed_last_hour"] == 1
    assert body["failure_rate"] == round(1 / 3, 4)


def test_analytics_by_type(api: Caller) -> None:
    t = api.tenant
    finish(make_task(t, "noop"), "completed", wait_ms=1000, exec_ms=100)
    finish(make_task(t, "noop"), "completed", wait_ms=3000, exec_ms=300)
    finish(make_task(t, "noop"), "failed", wait_ms=2000, exec_ms=200)
    make_task(t, "sleep")
    finish(make_task(t, "sleep"), "cancelled", wait_ms=None, exec_ms=None)
    rows = api.get("/api/analytics/types").json()
    assert [r["type"] for r in rows] == ["noop", "sleep"]
    noop, sleep = rows
    assert noop["total"] == 3
    assert noop["by_status"] == {"pending": 0, "scheduled": 0, "blocked": 0, "running": 0, "completed": 2, "failed": 1,
                                 "cancelled": 0}
    assert noop["failure_rate"] == round(1 / 3, 4)
    assert (noop["avg_execution_ms"], noop["avg_queue_wait_ms"]) == (200.0, 2000.0)
    assert sleep["total"] == 2
    assert (sleep["by_status"]["pending"], sleep["by_status"]["cancelled"]) == (1, 1)
    assert sleep["failure_rate"] == 0.0
    assert (sleep["avg_execution_ms"], sleep["avg_queue_wait_ms"]) == (None, None)


def test_analytics_types_of_a_fresh_tenant_is_empty(api: Caller) -> None:
    assert api.get("/api/analytics/types").json() == []


def floor10(moment: datetime) -> datetime:
    return rollups.floor_to(moment, ThroughputBucket.SECONDS)


def test_throughput_default_is_30_points_of_10_s_oldest_first_zero_filled(api: Caller) -> None:
    now = timezone.now()
    t = api.tenant.pk
    rollups.record([
        rollups.Finished(t, "noop", 3, "completed", now, now, now),
        rollups.Finished(t, "noop", 3, "completed", now, now, now),
        rollups.Finished(t, "noop", 3, "failed", now, now, now),
        rollups.Finished(t, "noop", 3, "cancelled", now, None, now - timedelta(seconds=60)),
        rollups.Finished(t, "noop", 3, "completed", now, now, now - timedelta(seconds=400)),  # outside the window
    ])
    points = api.get("/api/analytics/throughput").json()
    assert len(points) == 30
    stamps = [when(p["timestamp"]) for p in points]
    assert all(b - a == timedelta(seconds=10) for a, b in pairwise(stamps))
    assert stamps[-1] >= floor10(now)  # the newest point covers the present
    by_stamp = {when(p["timestamp"]): p for p in points}
    assert (by_stamp[floor10(now)]["completed"], by_stamp[floor10(now)]["failed"]) == (2, 1)
    assert by_stamp[floor10(now - timedelta(seconds=60))]["cancelled"] == 1
    assert sum(p["completed"] for p in points) == 2
    assert sum(p["failed"] for p in points) == 1
    assert sum(p["cancelled"] for p in points) == 1
    busy = {floor10(now), floor10(now - timedelta(seconds=60))}
    assert all(p["completed"] == p["failed"] == p["cancelled"] == 0 for s, p in by_stamp.items() if s not in busy)


def test_throughput_with_a_custom_window_and_bucket(api: Caller) -> None:
    now = timezone.now()
    t = api.tenant.pk
    rollups.record([rollups.Finished(t, "noop", 3, "completed", now, now, now - timedelta(seconds=s))
                  for s in (0, 100, 400, 580, 900)])
    points = api.get("/api/analytics/throughput", {"window": 600, "bucket": 60}).json()
    assert len(points) == 10
    stamps = [when(p["timestamp"]) for p in points]
    assert all(b - a == timedelta(seconds=60) for a, b in pairwise(stamps))
    assert sum(p["completed"] for p in points) == 4  # 900 s ago is outside
    for offset in (0, 100, 400, 580):
        moment = floor10(now - timedelta(seconds=offset))
        point = next(p for s, p in zip(stamps, points, strict=True) if s <= moment < s + timedelta(seconds=60))
        assert point["completed"] >= 1
    assert len(api.get("/api/analytics/throughput", {"window": 86400, "bucket": 3600}).json()) == 24


@pytest.mark.parametrize(("params", "field"), [
    ({"window": "abc"}, "window"), ({"window": 5}, "window"), ({"window": 86401}, "window"),
    ({"window": "1.5"}, "window"), ({"bucket": 15}, "bucket"), ({"bucket": 0}, "bucket"),
    ({"bucket": "x"}, "bucket"), ({"window": 60, "bucket": 120}, "bucket"), ({"window": 86400, "bucket": 10}, "bucket"),
])
def test_throughput_parameters_are_validated(api: Caller, params: dict[str, Any], field: str) -> None:
    assert_problem(api.get("/api/analytics/throughput", params), 400, field)


@pytest.mark.django_db(transaction=True)
def test_analytics_after_a_real_worker_ran(api: Caller, inprocess_worker: Any) -> None:
    response = api.batch([{"type": "noop"}] * 3 + [{"type": "fail", "max_retries": 0}])
    assert response.status_code == 201
    inprocess_worker.burst(threads=2)
    body = api.get("/api/analytics").json()
    assert (body["by_status"]["completed"], body["by_status"]["failed"]) == (3, 1)
    assert body["total"] == 4
    assert body["failure_rate"] == 0.25
    assert body["completed_last_hour"] == 3
    assert body["percentile_sample"] == 4
    assert body["avg_execution_ms"] >= 0 and body["p95_execution_ms"] >= 0
    assert body["avg_queue_wait_ms"] >= 0 and body["p95_queue_wait_ms"] >= 0
    types = {r["type"]: r for r in api.get("/api/analytics/types").json()}
    assert (types["noop"]["total"], types["noop"]["failure_rate"]) == (3, 0.0)
    assert (types["fail"]["total"], types["fail"]["failure_rate"]) == (1, 1.0)
    points = api.get("/api/analytics/throughput").json()
    assert sum(p["completed"] for p in points) == 3 and sum(p["failed"] for p in points) == 1
    assert TaskStat.objects.filter(tenant=api.tenant).exists()
