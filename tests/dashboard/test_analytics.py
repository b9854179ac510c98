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
