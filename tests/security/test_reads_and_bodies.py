"""Bounded reads and bodies: a per-key read budget, no deep OFFSET pages, every list plan on a
tenant-leading index, and request bodies refused by size before they are read or parsed."""

from typing import Any

import pytest

from jobs.services import listing, scan
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


def test_a_sparse_filter_walks_windows_of_the_tenant_and_misses_nothing(
        api: Caller, other_api: Caller, monkeypatch: pytest.MonkeyPatch) -> None:
    made = [e.task.pk for e in enqueue_many([{"type": ("noop", "fail")[i % 7 == 0]} for i in range(30)],
                                            tenant=api.tenant)]
    enqueue_many([{"type": "fail"}] * 10, tenant=other_api.tenant)
    monkeypatch.setattr(scan, "SCAN_ROWS", 4)
    pages, seen, cursor = [], [], ""
    while cursor is not None:
        body = api.get("/api/tasks", {"cursor": cursor, "page_size": 2, "type": "fail"}).json()
        pages.append(len(body["data"]))
        seen += [row["id"] for row in body["data"]]
        cursor = body["next_cursor"]
    # Each request examined at most 4 of the tenant's rows: some pages came back short or empty.
    assert seen == sorted((pk for i, pk in enumerate(made) if i % 7 == 0), reverse=True)
    assert len(pages) >= 30 // 4 and 0 in pages


def test_off_index_sorts_order_the_newest_window_and_say_the_total_is_partial(
        api: Caller, monkeypatch: pytest.MonkeyPatch) -> None:
    made = [e.task.pk for e in enqueue_many([{"type": "noop", "priority": 1 + i % 5} for i in range(12)],
                                            tenant=api.tenant)]
    monkeypatch.setattr(scan, "SCAN_ROWS", 6)
    body = api.get("/api/tasks", {"sort_by": "priority", "page_size": 4}).json()
    newest = [(1 + i % 5, pk) for i, pk in enumerate(made)][-6:]
    assert [row["id"] for row in body["data"]] == [pk for _, pk in sorted(newest, reverse=True)][:4]
    assert (body["total"], body["total_exact"]) == (6, False)
    # Unfiltered, by creation: an index serves it, so every row is reachable and counted.
    whole = api.get("/api/tasks", {"page_size": 4, "page": 3}).json()
    assert (whole["total"], whole["total_exact"], len(whole["data"])) == (12, True, 4)


# --------------------------------------------------------------------------- bodies

LIMIT = 4 * 1024 * 1024


async def _exchange(app: Any, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[Any, Any, int]:
    """POST /api/tasks through ``app`` as daphne would: the answer, and how many chunks went unread."""
    from asgiref.testing import ApplicationCommunicator

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/api/tasks", "raw_path": b"/api/tasks", "query_string": b"",
             "root_path": "", "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"),
                                          *headers], "client": ("127.0.0.1", 1), "server": ("testserver", 80)}
    communicator = ApplicationCommunicator(app, scope)
    for i, chunk in enumerate(chunks):
        await communicator.send_input({"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1})
    start = await communicator.receive_output(timeout=10)
    body = await communicator.receive_output(timeout=10)
    unread = communicator.input_queue.qsize()
    await communicator.wait(timeout=10)
    return start, body, unread


def _django() -> Any:
    from django.core.asgi import get_asgi_application

    from jobs.api.bodies import BodyLimit

    return BodyLimit(get_asgi_application())


def test_a_declared_length_over_the_limit_is_413_before_a_byte_is_read() -> None:
    import json

    from asgiref.sync import async_to_sync

    # No chunk is ever sent: an answer proves nothing waited for the body (Django's handler would).
    start, body, _ = async_to_sync(_exchange)(_django(), [(b"content-length", str(LIMIT + 1).encode())], [])
    assert start["status"] == 413
    assert (b"content-type", b"application/problem+json") in start["headers"]
    document = json.loads(body["body"])
    assert document["status"] == 413 and document["limit"] == LIMIT and str(LIMIT) in document["detail"]


def test_a_chunked_body_is_refused_once_it_passes_the_limit_and_the_rest_is_never_read() -> None:
    import json

    from asgiref.sync import async_to_sync

    chunk = b" " * (1024 * 1024)
    start, body, unread = async_to_sync(_exchange)(_django(), [(b"transfer-encoding", b"chunked")], [chunk] * 8)
    assert start["status"] == 413 and json.loads(body["body"])["limit"] == LIMIT
    assert unread == 3  # the fifth MiB passed the limit: three were left on the wire


def test_a_chunked_body_within_the_limit_reaches_the_app_whole_with_its_length() -> None:
    from asgiref.sync import async_to_sync

    from jobs.api.bodies import BodyLimit

    seen: dict[str, Any] = {}

    async def echo(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        seen["headers"] = dict(scope["headers"])
        seen["body"], seen["more"] = message["body"], message.get("more_body", False)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    start, _, _ = async_to_sync(_exchange)(BodyLimit(echo), [(b"transfer-encoding", b"chunked")],
                                          [b'{"type":', b' "noop"}'])
    assert start["status"] == 204
    assert (seen["body"], seen["more"]) == (b'{"type": "noop"}', False)
    assert seen["headers"][b"content-length"] == b"16" and b"transfer-encoding" not in seen["headers"]


def test_the_api_limit_not_djangos_decides_api_bodies(api: Caller, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2621440  # Django's default
    # 3 MiB: over Django's figure, under the API's; parsed, so the unknown field is what is refused.
    body = '{"tasks": [{"type": "noop"}], "padding": "' + "x" * (3 * 1024 * 1024) + '"}'
    assert_problem(api.post("/api/tasks/batch", body), 400, "padding")
    over = api.post("/api/tasks/batch", '{"tasks": [], "padding": "' + "x" * LIMIT + '"}')
    assert_problem(over, 413)


def test_nginx_refuses_what_the_api_would() -> None:
    import re

    from jobs.api.conf import api_conf
    from tests.support import ROOT

    text = (ROOT / "deploy" / "nginx.conf").read_text()
    sizes = re.findall(r"client_max_body_size\s+(\d+)m;", text)
    assert sizes and all(int(m) * 1024 * 1024 == api_conf().API_MAX_BODY_BYTES for m in sizes), sizes


def _parse_peak(body: bytes) -> int:
    import io
    import tracemalloc

    from jobs.api.parsers import StrictJSONParser

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        StrictJSONParser().parse(io.BytesIO(body), "application/json", {})
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def _at_most(limit: int, make: Any) -> bytes:
    """The largest body ``make(n)`` within ``limit`` bytes."""
    low, high = 1, 2
    while len(make(high)) <= limit:
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if len(make(middle)) <= limit else (low, middle)
    return make(low)


def test_a_maximal_batch_costs_at_most_six_times_its_size_to_parse() -> None:
    import json

    spec = {"type": "send_email", "queue": "default", "priority": 3, "payload": {
        "to": "user@example.com", "lines": [{"sku": f"SKU-{j}", "qty": j, "price": 9.99} for j in range(40)],
        "note": "x" * 1500}}
    body = _at_most(LIMIT, lambda n: json.dumps({"tasks": [{**spec, "idempotency_key": f"k{i}"} for i in range(n)]})
                    .encode())
    assert len(body) > LIMIT * 0.9
    assert _parse_peak(body) <= 6 * len(body)  # measured: 4.7 times


@pytest.mark.parametrize("shape", ["objects", "arrays and keys", "short strings"])
def test_no_body_at_the_limit_costs_more_than_twenty_times_its_size(shape: str) -> None:
    cap = LIMIT // 32 - 100  # just under the parser's cap on objects and arrays
    make = {
        "objects": lambda n: b'{"tasks":[' + b",".join([b"{}"] * cap + [b'"ab"'] * n) + b"]}",
        "arrays and keys": lambda n: b'{"tasks":[' + b",".join([b"[]"] * cap) + b'],"k":{'
                                     + b",".join(b'"%x":0' % i for i in range(n)) + b"}}",
        "short strings": lambda n: b'{"tasks":[' + b",".join([b'"ab"'] * n) + b"]}",
    }[shape]
    body = _at_most(LIMIT, make)
    assert _parse_peak(body) <= 20 * len(body)  # measured at most 16 times; 25 without the cap


def test_more_objects_than_the_cap_is_413_before_parsing(api: Caller) -> None:
    body = '{"tasks": [' + ",".join(["{}"] * (LIMIT // 32 + 1)) + "]}"
    problem = assert_problem(api.post("/api/tasks/batch", body), 413)
    assert "objects and arrays" in problem["detail"]


@pytest.mark.parametrize("body", ['{"tasks": ' + "[" * 100_000 + "]" * 100_000 + "}",
                                  '{"type": "noop", "payload": ' + "[" * 30_000 + "]" * 30_000 + "}"])
def test_a_body_nested_too_deeply_is_400(api: Caller, body: str) -> None:
    problem = assert_problem(api.post("/api/tasks" if "type" in body else "/api/tasks/batch", body), 400)
    assert "nested too deeply" in problem["detail"]


def test_lone_surrogates_are_400_and_pairs_pass(api: Caller) -> None:
    lone = api.post("/api/tasks", '{"type": "noop", "payload": {"k": ["ok", {"\\udc00": 1}]}}')
    assert "surrogate" in assert_problem(lone, 400)["detail"]
    pair = api.post("/api/tasks", '{"type": "noop", "payload": {"emoji": "\\ud83d\\ude00", "path": "\\\\ud800"}}')
    assert pair.status_code == 201, pair.content
    assert pair.json()["payload"] == {"emoji": "\U0001f600", "path": "\\ud800"}
