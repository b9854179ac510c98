"""The console's task list: filters, search, keyset pagination, the HTMX partial and bounded queries."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dashboard import tasklist
from jobs.lifecycle import Status
from jobs.models import Task
from tenants.models import Tenant
from tests.support.builders import add_task
from tests.support.console import HTMX, PAGES, html, query_string, row_ids

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue(tenant: Tenant, other_tenant: Tenant) -> dict[str, Task]:
    base = datetime(2030, 1, 1, 10, 0, tzinfo=UTC)
    return {
        "a": add_task(tenant, "send_email", priority=5, queue="mail", created_at=base, idempotency_key="order-1"),
        "b": add_task(tenant, "send_email", status=Status.RUNNING, priority=3, created_at=base + timedelta(hours=1)),
        "c": add_task(tenant, "resize_image", status=Status.FAILED, priority=1, created_at=base + timedelta(hours=2)),
        "d": add_task(other_tenant, "send_email", status=Status.SCHEDULED, priority=5, queue="mail",
                      created_at=base + timedelta(hours=3)),
        "e": add_task(other_tenant, "generate_report", status=Status.COMPLETED, priority=2,
                      created_at=base + timedelta(hours=4)),
    }


def ids(tasks: dict[str, Task], *names: str) -> list[int]:
    return sorted((tasks[n].pk for n in names), reverse=True)


@pytest.mark.parametrize(("params", "expected"), [
    ({}, "abcde"),
    ({"tenant": "acme"}, "abc"),
    ({"tenant": "globex", "type": "send_email"}, "d"),
    ({"type": "send_email"}, "abd"),
    ({"status": "failed"}, "c"),
    ({"priority": "5"}, "ad"),
    ({"queue": "mail"}, "ad"),
    ({"created_after": "2030-01-01T11:00", "created_before": "2030-01-01T13:00"}, "bc"),
    ({"q": "send"}, "abd"),
    ({"q": "order-1"}, "a"),
    ({"tenant": "acme", "priority": "5", "status": "pending"}, "a"),
])
def test_filters_and_search(viewer: Any, catalogue: dict[str, Task], params: dict[str, str], expected: str) -> None:
    assert row_ids(viewer.get("/tasks/", params)) == ids(catalogue, *expected)


def test_search_by_id_and_dates_in_the_viewers_zone(viewer: Any, catalogue: dict[str, Task]) -> None:
    assert row_ids(viewer.get("/tasks/", {"q": str(catalogue["c"].pk)})) == [catalogue["c"].pk]
    # 11:00 in Paris (UTC+1 in January) is 10:00 UTC: task a was created then.
    in_paris = {"created_after": "2030-01-01T11:00", "created_before": "2030-01-01T12:00", "tz": "Europe/Paris"}
    assert row_ids(viewer.get("/tasks/", in_paris)) == ids(catalogue, "a")
    assert "dates read in Europe/Paris" in html(viewer.get("/tasks/", in_paris))
    assert row_ids(viewer.get("/tasks/", {**in_paris, "tz": ""})) == ids(catalogue, "b")
    for bogus in ("Mars/Olympus", "../etc/passwd", "zone.tab", "x" * 300):  # read as UTC
        assert row_ids(viewer.get("/tasks/", {**in_paris, "tz": bogus})) == ids(catalogue, "b")


@pytest.mark.parametrize("odd", ["²", "1²", "#²", "٣", "9" * 40])
def test_odd_numbers_never_answer_500(viewer: Any, catalogue: dict[str, Task], odd: str) -> None:
    """``'²'.isdigit()`` is true but ``int('²')`` raises: numbers must be ASCII digits."""
    assert row_ids(viewer.get("/tasks/", {"q": odd})) == []
    assert viewer.get("/tasks/", {"after": odd, "before": odd, "size": odd}).status_code == 200
    assert viewer.get("/live/feed/", {"after": odd}).status_code == 200
    assert viewer.get("/analytics/", {"window": odd}).status_code == 200


def test_invalid_filters_are_reported_and_ignored(viewer: Any, catalogue: dict[str, Task]) -> None:
    response = viewer.get("/tasks/", {"priority": "9", "status": "bogus", "tenant": "acme"})
    body = html(response)
    assert response.status_code == 200 and 'role="alert"' in body
    assert row_ids(response) == ids(catalogue, "a", "b", "c")
    reversed_range = viewer.get("/tasks/", {"created_after": "2030-01-02T00:00", "created_before": "2030-01-01T00:00"})
    assert "must be later than" in html(reversed_range)


def test_keyset_pagination(viewer: Any, tenant: Tenant, other_tenant: Tenant) -> None:
    tasks = [add_task(tenant if i % 3 else other_tenant, "noop") for i in range(10)]
    acme = sorted((t.pk for t in tasks if t.tenant_id == tenant.pk), reverse=True)  # 6 tasks
    first = viewer.get("/tasks/", {"tenant": "acme", "size": "4"})
    assert row_ids(first) == acme[:4]
    body = html(first)
    assert 'rel="prev"' not in body
    next_url = re.search(r'href="([^"]+)" rel="next"', body)
    assert next_url
    query = query_string(next_url.group(1))
    assert query == {"tenant": "acme", "size": "4", "after": str(acme[3])}
    second = viewer.get("/tasks/", query)
    assert row_ids(second) == acme[4:]
    assert 'rel="next"' not in html(second)
    prev_url = re.search(r'href="([^"]+)" rel="prev"', html(second))
    assert prev_url
    back = query_string(prev_url.group(1))
    assert back["before"] == str(acme[4])
    assert row_ids(viewer.get("/tasks/", back)) == acme[:4]
    assert 'rel="prev"' not in html(viewer.get("/tasks/", back))
    # A page in the middle has both links.
    middle = viewer.get("/tasks/", {"tenant": "acme", "size": "2", "after": str(acme[1])})
    assert row_ids(middle) == acme[2:4]
    assert 'rel="prev"' in html(middle) and 'rel="next"' in html(middle)
    # Before the newest row: a short page falls back to the first page.
    assert row_ids(viewer.get("/tasks/", {"tenant": "acme", "size": "4", "before": str(acme[1])})) == acme[:4]


def test_list_never_counts_the_table(viewer: Any, catalogue: dict[str, Task]) -> None:
    """The list's total is a count of at most TOTAL_CAP + 1 rows (then "1,000+"), never of the table."""
    with CaptureQueriesContext(connection) as queries:
        response = viewer.get("/tasks/", {"type": "send_email", "q": "send"})
    assert response.status_code == 200
    counts = [q["sql"].upper() for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1 and f"LIMIT {tasklist.TOTAL_CAP + 1}" in counts[0], counts
    sql = " ".join(q["sql"].upper() for q in queries.captured_queries)
    assert "DISTINCT" not in sql
    assert '"PAYLOAD"' not in sql and "`PAYLOAD`" not in sql  # heavy columns stay on disk


_LIVE = "(pending|scheduled|blocked|running)"
LIVE_ONLY = re.compile(rf"status[`\"]? IN \('{_LIVE}'(, '{_LIVE}')*\)")


@pytest.mark.parametrize("path", PAGES)
def test_no_page_counts_the_whole_task_table(viewer: Any, catalogue: dict[str, Task], path: str) -> None:
    """COUNT/DISTINCT on jobs_task only over a LIMITed subquery or the live statuses' index range."""
    with CaptureQueriesContext(connection) as queries:
        assert viewer.get(path).status_code == 200
    for query in queries.captured_queries:
        sql = query["sql"]
        if "jobs_task" in sql and ("COUNT(" in sql.upper() or "DISTINCT" in sql.upper()):
            assert "LIMIT" in sql.upper() or LIVE_ONLY.search(sql), sql


def test_list_htmx_partial(viewer: Any, catalogue: dict[str, Task]) -> None:
    response = viewer.get("/tasks/", {"status": "failed"}, headers={**HTMX, "HX-Target": "task-results"})
    body = html(response)
    assert body.lstrip().startswith("<section id=\"task-results\"") and "<html" not in body
    assert row_ids(response) == [catalogue["c"].pk]
    page = html(viewer.get("/tasks/"))
    assert 'hx-get="/tasks/"' in page and 'hx-target="#task-results"' in page and 'hx-push-url="true"' in page
    assert '<form method="get" action="/tasks/"' in page  # works without JavaScript too
