"""The analytics and task-type pages: charts, status and tenant breakdowns, failure rates."""

import re
from typing import Any

import pytest

from jobs.lifecycle import Status
from tenants.models import Tenant
from tests.support.builders import add_task, finish
from tests.support.console import html

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(tenant: Tenant, other_tenant: Tenant) -> None:
    Tenant.objects.filter(pk=tenant.pk).update(weight=3)
    for _ in range(3):
        finish(add_task(tenant, "send_email", priority=5), Status.COMPLETED, wait_ms=1000, exec_ms=3000)
    finish(add_task(tenant, "resize_image", priority=1), Status.FAILED, wait_ms=1000, exec_ms=3000)
    finish(add_task(other_tenant, "send_email", priority=5), Status.COMPLETED, wait_ms=1000, exec_ms=3000)
    add_task(other_tenant, "send_email", priority=2)  # pending


def test_analytics_page(viewer: Any, history: None) -> None:
    body = html(viewer.get("/analytics/"))
    for chart_id in ("throughput-chart", "durations-chart", "status-chart", "priority-chart", "fairness-chart"):
        assert re.search(rf'<svg class="[^"]*" id="{chart_id}" role="img" aria-labelledby="{chart_id}-title '
                         rf'{chart_id}-desc"', body), chart_id
        assert f'<title id="{chart_id}-title">' in body and f'<desc id="{chart_id}-desc">' in body
    assert re.search(r'data-status="completed">.*?<td class="num">4</td><td class="num">66.7%</td>', body, re.S)
    assert re.search(r'data-metric="avg-wait">1 s<', body) and re.search(r'data-metric="avg-exec">3 s<', body)
    assert "4 completed, 1 failed, 0 cancelled" in body  # the throughput chart's text alternative
    assert "Queue wait: average 1 s" in body
    acme = re.search(r'<tr data-tenant="acme">(.*?)</tr>', body, re.S)
    globex = re.search(r'<tr data-tenant="globex">(.*?)</tr>', body, re.S)
    assert acme and globex
    assert re.findall(r'<td class="num"[^>]*>([^<]*)</td>', acme.group(1))[:4] == ["3", "75%", "3", "75%"]
    assert re.findall(r'<td class="num"[^>]*>([^<]*)</td>', globex.group(1))[:6] == ["1", "25%", "1", "25%", "0", "1"]


def test_analytics_scoped_to_a_tenant(viewer: Any, history: None) -> None:
    body = html(viewer.get("/analytics/", {"tenant": "globex", "window": "86400"}))
    assert re.search(r'data-status="completed">.*?<td class="num">1</td>', body, re.S)
    assert "Last 24 hours" in body and 'value="86400" selected' in body
    assert "Share of completed (last 24 hours)" in body and "Completed (last 24 hours)" in body


def test_types_page_highlights_high_failure_rates(viewer: Any, tenant: Tenant) -> None:
    for status in (Status.COMPLETED, Status.FAILED):
        finish(add_task(tenant, "flaky_type"), status)
    for i in range(10):
        finish(add_task(tenant, "solid_type"), Status.FAILED if i == 0 else Status.COMPLETED)
    body = html(viewer.get("/types/"))
    assert '<tr data-type="flaky_type" class="alert">' in body
    assert '<tr data-type="solid_type">' in body
    assert "50% <span class=\"tag alert\">⚠ high</span>" in body and ">10%<" in body
    assert 'id="types-chart" role="img"' in body and '<text class="label alert"' in body


def _cells(body: str, marker: str) -> list[str]:
    return re.findall(rf'<td class="num" {marker}>([^<]*)</td>', body)


def test_the_status_breakdown_and_the_per_tenant_columns_count_the_same_failed_tasks(
        viewer: Any, tenant: Tenant, other_tenant: Tenant) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from jobs.services import control

    for owner, n in ((tenant, 3), (other_tenant, 2)):
        for _ in range(n):
            finish(add_task(owner, "call_webhook"), Status.FAILED)
        finish(add_task(owner, "call_webhook"), Status.COMPLETED)
    # Outside the hour, and one taken out of the dead letter: neither is a failed task of the last hour.
    finish(add_task(tenant, "call_webhook"), Status.FAILED, finished_at=timezone.now() - timedelta(hours=2))
    requeued = finish(add_task(other_tenant, "call_webhook"), Status.FAILED)
    control.requeue(requeued.pk)
    body = html(viewer.get("/analytics/"))
    failed_row = re.search(r'<tr data-status="failed">(.*?)</tr>', body, re.S)
    assert failed_row
    all_time, _share, last_hour = re.findall(r'<td class="num"[^>]*>([^<]*)</td>', failed_row.group(1))
    assert (all_time, last_hour) == ("6", "5")  # in the dead letter now: 3 + 2 this hour, 1 before
    per_tenant = _cells(body, "data-failed-window")
    assert sorted(per_tenant) == ["2", "3"]
    assert sum(int(n) for n in per_tenant) == int(last_hour)
    assert "Failed, dead letter (last hour)" in body and "Finished (last hour)" in body
    # Both rates, labelled, over the same hour: 6 of 8 runs failed (the requeued task's run did fail);
    # 5 of the 7 tasks finished now are dead-lettered.
    assert re.search(r'data-metric="attempt-rate">75% <span class="muted">\(6 of 8\)', body)
    assert re.search(r'data-metric="dead-letter-rate">71.4% <span class="muted">\(5 of 7\)', body)
    assert "Failed attempts <span class=\"muted\">(of all runs, retried or not)</span>" in body


def test_the_window_applies_to_averages_and_p95s_alike(viewer: Any, tenant: Tenant) -> None:
    from datetime import timedelta

    from django.utils import timezone

    finish(add_task(tenant), Status.COMPLETED, wait_ms=600_000, exec_ms=1000,
           finished_at=timezone.now() - timedelta(hours=3))
    finish(add_task(tenant), Status.COMPLETED, wait_ms=2000, exec_ms=1000)
    body = html(viewer.get("/analytics/"))
    assert re.search(r'data-metric="avg-wait">2 s<', body) and re.search(r'data-metric="p95-wait">2 s<', body)
    assert re.search(r'data-metric="avg-wait-all">5 min<', body)  # (600 s + 2 s) / 2, all time
    body = html(viewer.get("/analytics/", {"window": "21600"}))
    assert re.search(r'data-metric="avg-wait">5 min<', body) and re.search(r'data-metric="p95-wait">10 min<', body)
    assert "Queue wait vs execution <span class=\"muted\">(last 6 hours)</span>" in body


def test_types_page_shows_the_attempt_failure_rate_apart_from_the_dead_letter_rate(
        viewer: Any, tenant: Tenant) -> None:
    from django.utils import timezone

    from jobs.store import rollups

    for _ in range(4):
        finish(add_task(tenant, "call_webhook"), Status.COMPLETED)
    rollups.record([], retried=[rollups.Retried(tenant.pk, "call_webhook", timezone.now())] * 4)
    body = html(viewer.get("/types/"))
    row = re.search(r'<tr data-type="call_webhook"( class="alert")?>(.*?)</tr>', body, re.S)
    assert row and row.group(1)  # half of its attempts failed: flagged, though none was dead-lettered
    assert re.search(r'data-metric="attempt-rate"[^>]*><strong class="alert-text">50% ', row.group(2))
    assert "(4 of 8)" in row.group(2)
    assert re.search(r'data-metric="dead-letter-rate">0%<', row.group(2))
    assert "Failed attempts</th>" in body and "Failed: dead letter <span class=\"muted\">(rate)</span></th>" in body
