"""GET /api/tasks pagination: page numbers and the count cap, sorting, cursors and cursors the API never issued."""

import base64
import json
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.support.api import Caller, assert_problem, ids_of
from tests.support.builders import make_task

pytestmark = pytest.mark.django_db


def cursor_of(data: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_page_number_pagination(api: Caller) -> None:
    made = [make_task(api.tenant).pk for _ in range(25)]
    first = api.get("/api/tasks", {"page_size": 10})
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"data", "total", "total_exact", "page", "page_size", "total_pages"}
    assert (body["total"], body["page"], body["page_size"], body["total_pages"]) == (25, 1, 10, 3)
    seen = []
    for page in (1, 2, 3):
        page_body = api.get("/api/tasks", {"page_size": 10, "page": page}).json()
        assert page_body["page"] == page
        seen += [row["id"] for row in page_body["data"]]
    assert len(seen) == 25 and set(seen) == set(made)
    beyond = api.get("/api/tasks", {"page_size": 10, "page": 4}).json()
    assert beyond["data"] == [] and beyond["total"] == 25
    default = api.get("/api/tasks").json()
    assert default["page_size"] == 20 and len(default["data"]) == 20 and default["total_pages"] == 2
    assert len(api.get("/api/tasks", {"page_size": 100}).json()["data"]) == 25


def test_an_empty_list(api: Caller) -> None:
    assert api.get("/api/tasks").json() == {"data": [], "total": 0, "total_exact": True, "page": 1, "page_size": 20,
                                            "total_pages": 0}


@pytest.mark.parametrize(("params", "field"), [
    ({"page_size": 0}, "page_size"), ({"page_size": 101}, "page_size"), ({"page_size": "ten"}, "page_size"),
    ({"page": 0}, "page"), ({"page": "two"}, "page"), ({"page": -1}, "page"),
    ({"sort_by": "type"}, "sort_by"), ({"sort_by": "created_at; DROP TABLE"}, "sort_by"),
    ({"order": "up"}, "order"), ({"cursor": "", "page_size": 500}, "page_size"),
])
def test_bad_paging_parameters_are_400(api: Caller, params: dict[str, Any], field: str) -> None:
    assert_problem(api.get("/api/tasks", params), 400, field)


def test_default_order_is_newest_first(api: Caller) -> None:
    base = timezone.now() - timedelta(hours=1)
    tasks = [make_task(api.tenant, created_at=base + timedelta(minutes=m)) for m in (5, 1, 3)]
    assert ids_of(api.get("/api/tasks")) == [tasks[0].pk, tasks[2].pk, tasks[1].pk]
    assert ids_of(api.get("/api/tasks", {"order": "asc"})) == [tasks[1].pk, tasks[2].pk, tasks[0].pk]


def test_sorting_by_priority_status_and_id(api: Caller) -> None:
    tasks = [make_task(api.tenant, priority=p, status=s) for p, s in
             [(2, "pending"), (5, "failed"), (2, "completed"), (1, "running"), (5, "cancelled")]]
    by_priority = ids_of(api.get("/api/tasks", {"sort_by": "priority", "order": "asc"}))
    assert by_priority == [t.pk for t in sorted(tasks, key=lambda t: (t.priority, t.pk))]
    by_priority_desc = ids_of(api.get("/api/tasks", {"sort_by": "priority"}))
    assert by_priority_desc == [t.pk for t in sorted(tasks, key=lambda t: (-t.priority, -t.pk))]
    by_status = api.get("/api/tasks", {"sort_by": "status", "order": "asc"}).json()["data"]
    assert [r["status"] for r in by_status] == ["cancelled", "completed", "failed", "pending", "running"]
    assert ids_of(api.get("/api/tasks", {"sort_by": "id", "order": "asc"})) == sorted(t.pk for t in tasks)
    assert ids_of(api.get("/api/tasks", {"sort_by": "id", "order": "desc"})) == sorted(
        (t.pk for t in tasks), reverse=True)


def test_cursor_pagination_walks_every_task_once_without_counting(api: Caller) -> None:
    made = [make_task(api.tenant).pk for _ in range(25)]
    seen: list[int] = []
    cursor = ""
    pages = 0
    with CaptureQueriesContext(connection) as queries:
        while cursor is not None:
            response = api.get("/api/tasks", {"cursor": cursor, "page_size": 10})
            assert response.status_code == 200
            body = response.json()
            assert set(body) == {"data", "page_size", "next_cursor"}
            seen += [row["id"] for row in body["data"]]
            cursor = body["next_cursor"]
            pages += 1
    assert pages == 3
    assert seen == sorted(made, reverse=True)
    assert not [q for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]


def test_cursor_pagination_ascending_and_with_filters(api: Caller) -> None:
    made = [make_task(api.tenant, status="failed" if i % 2 else "pending").pk for i in range(9)]
    seen: list[int] = []
    cursor = ""
    while cursor is not None:
        body = api.get("/api/tasks", {"cursor": cursor, "page_size": 2, "order": "asc", "status": "failed"}).json()
        seen += [row["id"] for row in body["data"]]
        cursor = body["next_cursor"]
    assert seen == [pk for i, pk in enumerate(made) if i % 2]


def test_an_exactly_full_last_cursor_page_has_no_next_cursor(api: Caller) -> None:
    for _ in range(4):
        make_task(api.tenant)
    first = api.get("/api/tasks", {"cursor": "", "page_size": 2}).json()
    second = api.get("/api/tasks", {"cursor": first["next_cursor"], "page_size": 2}).json()
    assert len(second["data"]) == 2 and second["next_cursor"] is None


@pytest.mark.parametrize("cursor", [
    "!!!", "not-base64-json", cursor_of([1, 2]), cursor_of({"id": 3}), cursor_of({"o": "asc"}),
    cursor_of({"id": "x", "o": "asc"}), cursor_of({"id": 3, "o": "sideways"}), cursor_of("text"),
    cursor_of({"id": None, "o": "asc"}), base64.urlsafe_b64encode(b"\xff\xfe\x00").decode(),
])
def test_a_cursor_the_api_did_not_issue_is_400(api: Caller, cursor: str) -> None:
    assert_problem(api.get("/api/tasks", {"cursor": cursor}), 400, "cursor")


# Regression: int(float('inf')) in _decode_cursor used to escape as OverflowError (500).
def test_a_cursor_with_an_infinite_id_is_400(api: Caller) -> None:
    raw = base64.urlsafe_b64encode(b'{"id": 1e400, "o": "asc"}').decode()
    assert_problem(api.get("/api/tasks", {"cursor": raw}), 400, "cursor")


# Regression: a deeply nested cursor used to escape as RecursionError (500).
def test_a_deeply_nested_cursor_is_400(api: Caller) -> None:
    raw = base64.urlsafe_b64encode(b"[" * 2000).decode()
    assert_problem(api.get("/api/tasks", {"cursor": raw}), 400, "cursor")


def test_page_number_totals_stop_counting_at_the_cap(api: Caller, monkeypatch: pytest.MonkeyPatch) -> None:
    from jobs.services import listing

    for _ in range(5):
        make_task(api.tenant)
    assert api.get("/api/tasks").json()["total_exact"] is True
    monkeypatch.setattr(listing, "COUNT_CAP", 3)
    body = api.get("/api/tasks", {"page_size": 2}).json()
    assert (body["total"], body["total_exact"], body["total_pages"]) == (3, False, 2)
    assert len(body["data"]) == 2
    # Pages past the counted ones still serve rows.
    assert len(api.get("/api/tasks", {"page_size": 2, "page": 3}).json()["data"]) == 1
