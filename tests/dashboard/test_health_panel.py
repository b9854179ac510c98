"""The overview's health verdict: on the page, as its live fragment, each figure a link to its filtered tasks."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from jobs.lifecycle import Status
from tenants.models import Tenant
from tests.support.builders import add_task, add_worker, error_entry, slot
from tests.support.console import counter, html, query_string, row_ids

pytestmark = pytest.mark.django_db


def links(fragment: str) -> list[str]:
    return re.findall(r'href="([^"]+)"', fragment)


def test_overview_opens_with_the_verdict_and_its_reasons(viewer: Client, tenant: Tenant) -> None:
    add_task(tenant)
    page = html(viewer.get("/"))
    assert page.index('id="live-health"') < page.index('id="live-counters"')
    assert 'data-verdict>Down<' in page and 'data-reason="no_workers"' in page
    add_worker(1, slots=[slot(0)])
    fragment = html(viewer.get("/live/health/"))
    assert 'data-health="ok"' in fragment and "data-reason" not in fragment


def test_reason_links_open_the_tasks_they_name(viewer: Client, tenant: Tenant) -> None:
    running = add_task(tenant, status=Status.RUNNING)
    add_worker(1, slots=[slot(0, running)])
    waiting = add_task(tenant, queue="mail")
    add_task(tenant, status=Status.COMPLETED)
    fragment = html(viewer.get("/live/health/"))
    assert 'data-health="degraded"' in fragment and 'data-reason="saturated"' in fragment
    (url,) = re.findall(r'data-reason="saturated"><a href="([^"]+)"', fragment)
    assert query_string(url) == {"status": "pending"}
    assert row_ids(viewer.get(url.replace("&amp;", "&"))) == [waiting.pk]
    queue_url = next(u for u in links(fragment) if "queue=mail" in u and "status" in u)
    assert row_ids(viewer.get(queue_url.replace("&amp;", "&"))) == [waiting.pk]


def test_retrying_figure_links_to_the_retrying_tasks_only(viewer: Client, tenant: Tenant) -> None:
    add_worker(1, slots=[slot(0)])
    later = timezone.now() + timedelta(minutes=3)
    retry = add_task(tenant, status=Status.SCHEDULED, attempts=2, run_at=later,
                     errors=[error_entry(1, "ValueError", "boom"), error_entry(2, "ValueError", "boom")])
    delayed = add_task(tenant, status=Status.SCHEDULED, run_at=later)
    fragment = html(viewer.get("/live/health/"))
    (url,) = re.findall(r'href="([^"]+)" data-figure="retrying">1<', fragment)
    assert row_ids(viewer.get(url.replace("&amp;", "&"))) == [retry.pk]
    delayed_url = url.replace("retrying=yes", "retrying=no").replace("&amp;", "&")
    assert row_ids(viewer.get(delayed_url)) == [delayed.pk]


def test_live_health_needs_a_login(anon: Client) -> None:
    assert anon.get("/live/health/").status_code in (302, 401)


def test_task_list_and_page_show_retrying_apart_from_scheduled(viewer: Client, tenant: Tenant) -> None:
    later = timezone.now() + timedelta(minutes=3)
    retry = add_task(tenant, status=Status.SCHEDULED, attempts=1, max_retries=3, run_at=later,
                     errors=[error_entry(1, "ValueError", "boom")])
    delayed = add_task(tenant, status=Status.SCHEDULED, run_at=later)
    listing_page = html(viewer.get("/tasks/?status=scheduled"))
    row = re.search(rf'<tr id="task-row-{retry.pk}".*?</tr>', listing_page, re.S)
    other = re.search(rf'<tr id="task-row-{delayed.pk}".*?</tr>', listing_page, re.S)
    assert row and "data-retrying" in row.group(0) and other and "data-retrying" not in other.group(0)
    assert row_ids(viewer.get("/tasks/?status=scheduled&retrying=no")) == [delayed.pk]
    detail = html(viewer.get(f"/tasks/{retry.pk}/"))
    assert "Next retry" in detail and "attempt 1 of 4 failed" in detail
    assert "Next retry" not in html(viewer.get(f"/tasks/{delayed.pk}/"))


def test_retrying_filter_keeps_to_the_pages_and_bounds_bulk_actions(operator: Client, tenant: Tenant) -> None:
    """"Scheduled as" is one of the shared filters: pages keep it, and a bulk action counts (and acts
    on) only the retrying tasks, never the delayed ones beside them."""
    for _ in range(3):
        add_task(tenant, status=Status.SCHEDULED, attempts=1, errors=[error_entry(1, "ValueError", "boom")])
    add_task(tenant, status=Status.SCHEDULED)  # delayed, never run
    page = html(operator.get("/tasks/?retrying=yes&size=2"))
    assert re.search(r'href="[^"]*retrying=yes[^"]*" rel="next"', page)
    assert '<input type="hidden" name="retrying" value="yes">' in page and 'value="cancel"' in page
    confirm = html(operator.post("/tasks/bulk/", {"action": "cancel", "retrying": "yes"}))
    assert re.search(r"data-bulk-count[^>]*>3<", confirm), confirm


def test_counters_split_retrying_from_scheduled_and_link_to_their_tasks(viewer: Client, tenant: Tenant) -> None:
    retry = add_task(tenant, status=Status.SCHEDULED, attempts=1, errors=[error_entry(1, "ValueError", "boom")])
    add_task(tenant, status=Status.SCHEDULED)
    failed = add_task(tenant, status=Status.FAILED)
    fragment = html(viewer.get("/live/counters/"))
    assert counter(fragment, "scheduled") == "2" and counter(fragment, "retrying") == "1"
    hrefs = dict(re.findall(r'data-counter="(\w+)">.*?class="counter-link" href="([^"]+)"', fragment))
    assert row_ids(viewer.get(hrefs["retrying"].replace("&amp;", "&"))) == [retry.pk]
    assert row_ids(viewer.get(hrefs["failed"].replace("&amp;", "&"))) == [failed.pk]
