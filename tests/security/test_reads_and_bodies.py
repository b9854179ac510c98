"""Bounded reads and bodies: a per-key read budget, no deep OFFSET pages, every list plan on a
tenant-leading index, and request bodies refused by size before they are read or parsed."""

from typing import Any

import pytest

from jobs.services import listing
from jobs.services.enqueue import enqueue_many
from tests.support.api import Caller, MakeApi, assert_problem, ids_of

pytestmark = pytest.mark.django_db


# --------------------------------------------------------------------------- the read budget


def test_list_reads_beyond_the_keys_budget_are_429_with_retry_after(api: Caller, settings: Any) -> None:
    settings.JOBS = {**settings.JOBS, "READ_RATE_LIMIT": 3, "READ_RATE_WINDOW_SECONDS": 60, "LIST_READ_COST": 1}
    remaining = []
    for params in ({}, {"cursor": ""}, {"page": 1}):
        ok = api.get("/api/tasks", params)
        assert ok.status_code == 200, ok.content
        remaining.append(int(ok["RateLimit-Remaining"]))
    assert remaining == [2, 1, 0]
    refused = api.get("/api/tasks")
    body = assert_problem(refused, 429)
    assert int(refused["Retry-After"]) >= 1 and body["retry_after"] >= 1
    assert refused["RateLimit-Remaining"] == "0" and refused["RateLimit-Policy"] == "3;w=60"
    # The budget is the read one: submissions are charged per tenant, apart.
    assert api.submit().status_code == 201


def test_analytics_cost_more_and_the_budget_is_per_key(make_api: MakeApi, settings: Any) -> None:
    settings.JOBS = {**settings.JOBS, "READ_RATE_LIMIT": 10, "ANALYTICS_READ_COST": 4}
    first = make_api("acme")
    second = Caller(first.tenant, name="second key")
    assert first.get("/api/analytics").status_code == 200
    assert first.get("/api/analytics/types").status_code == 200
    assert_problem(first.get("/api/analytics/throughput"), 429)
    # Another key of the same tenant has its own budget; single-task reads stay free.
    assert second.get("/api/analytics/throughput").status_code == 200
    task_id = first.submit().json()["id"]
    assert first.get(f"/api/tasks/{task_id}").status_code == 200


def test_invalid_list_requests_are_not_charged(api: Caller, settings: Any) -> None:
    settings.JOBS = {**settings.JOBS, "READ_RATE_LIMIT": 1}
    assert_problem(api.get("/api/tasks", {"sort_by": "nope"}), 400, "sort_by")
    assert api.get("/api/tasks").status_code == 200


# --------------------------------------------------------------------------- deep pages


@pytest.mark.parametrize(("page", "size"), [(101, 100), (10_001, 1), (501, 20)])
def test_deep_page_numbers_are_refused_naming_page(api: Caller, page: int, size: int) -> None:
    body = assert_problem(api.get("/api/tasks", {"page": page, "page_size": size}), 400, "page")
    assert "cursor" in body["errors"][0]["message"]


def test_the_last_allowed_page_is_served(api: Caller) -> None:
    enqueue_many([{"type": "noop"}] * 3, tenant=api.tenant)
    assert listing.MAX_OFFSET_ROWS == 10_000
    assert api.get("/api/tasks", {"page": 100, "page_size": 100}).json()["data"] == []


def test_cursor_pages_still_walk_every_task(api: Caller, other_api: Caller) -> None:
    mine = [e.task.pk for e in enqueue_many([{"type": "noop"}] * 23, tenant=api.tenant)]
    enqueue_many([{"type": "noop"}] * 5, tenant=other_api.tenant)
    seen: list[int] = []
    cursor = ""
    while cursor is not None:
        response = api.get("/api/tasks", {"cursor": cursor, "page_size": 5})
        seen += ids_of(response)
        cursor = response.json()["next_cursor"]
    assert seen == sorted(mine, reverse=True)
