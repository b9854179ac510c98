"""GET /api/analytics and /analytics/types: the attempt failure rate beside the dead-letter rate, and the
figures of one rolling window (counts, rates, averages and p95s of the same tasks)."""

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from jobs.lifecycle import Status
from jobs.store import rollups
from tests.support.api import Caller, assert_problem, when
from tests.support.builders import finish, make_task

pytestmark = pytest.mark.django_db


def failed_attempts(api: Caller, task_type: str, n: int) -> None:
    """``n`` runs of ``task_type`` that failed and were retried (no task finished by them)."""
    rollups.record([], retried=[rollups.Retried(api.tenant.pk, task_type, timezone.now())] * n)


def test_attempt_failure_rate_and_dead_letter_rate_per_type_and_overall(api: Caller) -> None:
    # call_webhook: 9 tasks completed after 3 failed attempts between them; 1 dead-lettered at its first run.
    for _ in range(9):
        finish(make_task(api.tenant, "call_webhook"), Status.COMPLETED, wait_ms=10, exec_ms=10)
    finish(make_task(api.tenant, "call_webhook"), Status.FAILED, wait_ms=10, exec_ms=10)
    failed_attempts(api, "call_webhook", 3)
    finish(make_task(api.tenant, "noop"), Status.COMPLETED, wait_ms=10, exec_ms=10)
    types = {r["type"]: r for r in api.get("/api/analytics/types").json()}
    hook = types["call_webhook"]
    assert (hook["attempts"], hook["failed_attempts"]) == (13, 4)
    assert hook["attempt_failure_rate"] == round(4 / 13, 4)
    assert hook["dead_letter_rate"] == hook["failure_rate"] == 0.1  # 1 of 10 finished tasks
    assert (types["noop"]["attempts"], types["noop"]["attempt_failure_rate"]) == (1, 0.0)
    body = api.get("/api/analytics").json()
    assert (body["attempts"], body["failed_attempts"], body["attempt_failure_rate"]) == (14, 4, round(4 / 14, 4))
    assert body["dead_letter_rate"] == body["failure_rate"] == round(1 / 11, 4)
    window = body["window"]
    assert (window["seconds"], window["completed"], window["failed"], window["finished"]) == (3600, 10, 1, 11)
    assert (window["attempts"], window["failed_attempts"]) == (14, 4)
    assert window["attempt_failure_rate"] == body["attempt_failure_rate"]
    assert window["dead_letter_rate"] == body["dead_letter_rate"]
    assert when(window["since"]) <= timezone.now() - timedelta(seconds=3590)


def test_the_window_holds_only_its_own_tasks_and_its_p95s_match_its_averages(api: Caller) -> None:
    old = timezone.now() - timedelta(hours=2)
    finish(make_task(api.tenant), Status.COMPLETED, wait_ms=60_000, exec_ms=60_000, finished_at=old)
    finish(make_task(api.tenant), Status.FAILED, wait_ms=60_000, exec_ms=60_000, finished_at=old)
    for ms in (100, 200, 300):
        finish(make_task(api.tenant), Status.COMPLETED, wait_ms=ms, exec_ms=ms * 10)
    body = api.get("/api/analytics").json()
    window = body["window"]
    assert (window["completed"], window["failed"], window["finished"]) == (3, 0, 3)
    assert window["dead_letter_rate"] == 0.0 and body["dead_letter_rate"] == 0.2  # all time: 1 of 5
    assert (window["avg_queue_wait_ms"], window["p95_queue_wait_ms"]) == (200.0, 300.0)
    assert (window["avg_execution_ms"], window["p95_execution_ms"]) == (2000.0, 3000.0)
    assert window["percentile_sample"] == 3
    assert body["avg_queue_wait_ms"] == round((60_000 * 2 + 600) / 5, 1)  # all time
    assert body["completed_last_hour"] == window["completed"]
    wide = api.get("/api/analytics", {"window": 86400}).json()["window"]
    assert (wide["seconds"], wide["completed"], wide["failed"], wide["percentile_sample"]) == (86400, 4, 1, 5)


def test_the_window_agrees_with_the_throughput_points_of_the_same_window(api: Caller) -> None:
    for status in (Status.COMPLETED, Status.COMPLETED, Status.FAILED, Status.CANCELLED):
        finish(make_task(api.tenant), status, finished_at=timezone.now() - timedelta(seconds=30))
    window = api.get("/api/analytics", {"window": 300}).json()["window"]
    points = api.get("/api/analytics/throughput", {"window": 300, "bucket": 10}).json()
    for status in ("completed", "failed", "cancelled"):
        assert window[status] == sum(p[status] for p in points) > 0
    assert when(points[0]["timestamp"]) == when(window["since"])


@pytest.mark.parametrize("value", ["abc", "59", "86401", "1.5"])
def test_the_window_parameter_is_validated(api: Caller, value: str) -> None:
    assert_problem(api.get("/api/analytics", {"window": value}), 400, "window")


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_counts_each_failed_attempt(api: Caller, inprocess_worker: Any) -> None:
    assert api.batch([{"type": "noop"}, {"type": "fail", "max_retries": 0}]).status_code == 201
    inprocess_worker.burst(threads=2)
    body = api.get("/api/analytics").json()
    assert (body["attempts"], body["failed_attempts"], body["attempt_failure_rate"]) == (2, 1, 0.5)
    assert (body["window"]["attempts"], body["window"]["failed_attempts"]) == (2, 1)
    types = {r["type"]: r for r in api.get("/api/analytics/types").json()}
    assert (types["fail"]["failed_attempts"], types["fail"]["dead_letter_rate"]) == (1, 1.0)
