"""The HTTP API, endpoint by endpoint: success and error paths, idempotency, pagination,
filters, analytics, workers, health and demo (tenant isolation: test_api_isolation.py;
rate limits: test_api_ratelimit.py; keys: test_api_keys.py)."""

import base64
import json
import time
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from django.db import DatabaseError, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.api.conf import api_conf
from jobs.conf import conf
from jobs.lifecycle import Status
from jobs.models import Task, TaskStat, ThroughputBucket, WorkerProcess
from jobs.store import rollups
from tests.support.api import PROBLEM, Caller, assert_problem, ids_of
from tests.support.builders import finish, make_task
from tests.support.redis import use_redis
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db



def when(value: str) -> datetime:
    return datetime.fromisoformat(value)


def task_inserts(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries
            if q["sql"].lstrip().upper().startswith("INSERT") and "jobs_task" in q["sql"].replace("`", '"')
            and "jobs_taskstat" not in q["sql"]]


def nested_object(depth: int) -> dict[str, Any]:
    """``{"a": {"a": … {}}}``, ``depth`` levels deep."""
    root: dict[str, Any] = {}
    node = root
    for _ in range(depth - 1):
        node["a"] = {}
        node = node["a"]
    return root


def cursor_of(data: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


# =========================================================================== health


def test_health_needs_no_key() -> None:
    response = Client().get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_reports_each_dependency(servers: dict[str, Any]) -> None:
    response = Client().get("/api/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"] == ("ok" if servers["redis_url"] else "not configured")


def test_ready_is_503_when_redis_is_unreachable(settings: Any) -> None:
    use_redis(settings, "redis://127.0.0.1:1/0")  # nothing listens on port 1
    response = Client().get("/api/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error")


def test_ready_is_503_when_the_database_is_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    from jobs.api.views import system

    class DeadConnection:
        def cursor(self) -> Any:
            raise DatabaseError("connection refused")

        def close(self) -> None:
            pass

    monkeypatch.setattr(system, "connection", DeadConnection())
    response = Client().get("/api/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"].startswith("error")


# =========================================================================== authentication (basics)

KEYED_ENDPOINTS = [
    ("get", "/api/tasks"), ("post", "/api/tasks"), ("post", "/api/tasks/batch"), ("get", "/api/tasks/1"),
    ("post", "/api/tasks/1/cancel"), ("post", "/api/tasks/1/retry"), ("get", "/api/analytics"),
    ("get", "/api/analytics/throughput"), ("get", "/api/analytics/types"), ("get", "/api/workers"),
    ("post", "/api/demo/seed"), ("post", "/api/demo/clear"),
]


@pytest.mark.parametrize(("method", "path"), KEYED_ENDPOINTS)
@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "jek_nope_nope"}, {"Authorization": "Bearer garbage"}],
                         ids=["no-key", "unknown-key", "malformed-bearer"])
def test_every_endpoint_but_health_needs_a_valid_key(method: str, path: str, headers: dict[str, str],
                                                     demo_mode: None) -> None:
    client = Client(headers=headers)
    if method == "post":
        response = client.post(path, json.dumps({"type": "noop", "tasks": [{"type": "noop"}]}),
                               content_type="application/json")
    else:
        response = client.get(path)
    body = assert_problem(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert body["title"] == "Unauthorized"
    assert not Task.objects.exists()


# =========================================================================== POST /api/tasks


def test_submit_with_defaults(api: Caller) -> None:
    before = timezone.now()
    response = api.submit("noop")
    assert response.status_code == 201
    body = response.json()
    task = Task.objects.get()
    assert response["Location"] == f"/api/tasks/{task.pk}"
    assert body["id"] == task.pk
    assert body["tenant"] == "acme"
    assert (body["type"], body["priority"], body["status"], body["queue"]) == ("noop", 3, "pending", "default")
    assert (body["payload"], body["attempts"], body["max_retries"]) == ({}, 0, conf().DEFAULT_MAX_RETRIES)
    assert body["timeout_seconds"] == 30  # the noop type's own timeout
    assert body["idempotency_key"] is None and body["worker"] is None and body["last_error"] is None
    assert before <= when(body["run_at"]) <= timezone.now()
    assert (task.tenant_id, task.type, task.status, task.priority) == (api.tenant.pk, "noop", Status.PENDING, 3)
    assert api.get(response["Location"]).json()["id"] == task.pk


def test_submit_with_every_option(api: Caller) -> None:
    before = timezone.now()
    response = api.submit("sleep", payload={"seconds": 2, "to": ["a", "b"]}, priority=5, max_retries=0,
                          delay_seconds=60, timeout_seconds=10, queue="emails", idempotency_key="order-7")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "scheduled"
    assert before + timedelta(seconds=60) <= when(body["run_at"]) <= timezone.now() + timedelta(seconds=60)
    task = Task.objects.get(pk=body["id"])
    assert task.payload == {"seconds": 2, "to": ["a", "b"]}
    assert (task.priority, task.max_retries, task.timeout, task.queue) == (5, 0, 10, "emails")
    assert task.idempotency_key == "order-7" and task.status == Status.SCHEDULED


def test_submit_with_run_at_in_the_future_and_in_the_past(api: Caller) -> None:
    future = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    body = api.submit(run_at=future.astimezone(timezone.get_fixed_timezone(120)).isoformat()).json()
    assert body["status"] == "scheduled"
    assert when(body["run_at"]) == future
    past = timezone.now() - timedelta(hours=1)
    body = api.submit(run_at=past.isoformat()).json()
    assert body["status"] == "pending"


def test_priority_accepts_an_integral_float(api: Caller) -> None:
    response = api.submit(priority=4.0)
    assert response.status_code == 201
    assert response.json()["priority"] == 4


@pytest.mark.parametrize(("spec", "field"), [
    ({}, "type"),
    ({"type": ""}, "type"),
    ({"type": 5}, "type"),
    ({"type": "no_such_type"}, "type"),
    ({"type": "noop", "priority": 0}, "priority"),
    ({"type": "noop", "priority": 6}, "priority"),
    ({"type": "noop", "priority": "3"}, "priority"),
    ({"type": "noop", "priority": 2.5}, "priority"),
    ({"type": "noop", "priority": True}, "priority"),
    ({"type": "noop", "priority": None, "max_retries": -1}, "max_retries"),
    ({"type": "noop", "max_retries": 101}, "max_retries"),
    ({"type": "noop", "delay_seconds": -1}, "delay_seconds"),
    ({"type": "noop", "delay_seconds": "10"}, "delay_seconds"),
    ({"type": "noop", "delay_seconds": 367 * 86400}, "delay_seconds"),
    ({"type": "noop", "run_at": "tomorrow"}, "run_at"),
    ({"type": "noop", "run_at": "2030-01-01T00:00:00"}, "run_at"),
    ({"type": "noop", "run_at": 1700000000}, "run_at"),
    ({"type": "noop", "run_at": "2030-01-01T00:00:00+00:00", "delay_seconds": 5}, "run_at"),
    ({"type": "noop", "timeout_seconds": 0}, "timeout_seconds"),
    ({"type": "noop", "timeout_seconds": 7 * 86400 + 1}, "timeout_seconds"),
    ({"type": "noop", "queue": 7}, "queue"),
    ({"type": "noop", "queue": "q" * 65}, "queue"),
    ({"type": "noop", "idempotency_key": ""}, "idempotency_key"),
    ({"type": "noop", "idempotency_key": "k" * 256}, "idempotency_key"),
    ({"type": "noop", "idempotency_key": 42}, "idempotency_key"),
    ({"type": "noop", "payload": [1, 2]}, "payload"),
    ({"type": "noop", "payload": "not json"}, "payload"),
    ({"type": "noop", "payload": "[1]"}, "payload"),
    ({"type": "noop", "colour": "blue"}, "colour"),
])
def test_submit_validation_names_the_field(api: Caller, spec: dict[str, Any], field: str) -> None:
    body = assert_problem(api.post("/api/tasks", spec), 400, field)
    assert body["type"].endswith("/validation")
    assert not Task.objects.exists()


def test_unknown_type_error_lists_known_types(api: Caller) -> None:
    body = assert_problem(api.submit("no_such_type"), 400, "type")
    message = body["errors"][0]["message"]
    assert "no_such_type" in message and "noop" in message


@pytest.mark.parametrize("raw", ["[]", "3", '"text"', "null"])
def test_submit_body_must_be_a_json_object(api: Caller, raw: str) -> None:
    assert_problem(api.post("/api/tasks", raw), 400, "body")
    assert not Task.objects.exists()


def test_malformed_json_is_400(api: Caller) -> None:
    body = assert_problem(api.post("/api/tasks", '{"type": "noop",'), 400)
    assert "JSON" in body["detail"]
    assert_problem(api.post("/api/tasks", '{"type": NaN}'), 400)
    assert not Task.objects.exists()


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_non_json_bodies_are_415(api: Caller, content_type: str) -> None:
    response = api.client.post("/api/tasks", "type=noop", content_type=content_type)
    body = assert_problem(response, 415)
    assert body["title"] == "Unsupported media type"
    response = api.client.post("/api/tasks/batch", "tasks=noop", content_type=content_type)
    assert_problem(response, 415)
    assert not Task.objects.exists()


def test_a_payload_of_exactly_64_kib_is_accepted_and_one_byte_more_is_413(api: Caller) -> None:
    limit = conf().MAX_PAYLOAD_BYTES
    assert limit == 64 * 1024
    filler = limit - len(json.dumps({"s": ""}))
    assert api.submit(payload={"s": "x" * filler}).status_code == 201
    body = assert_problem(api.submit(payload={"s": "x" * (filler + 1)}), 413)
    assert body["type"].endswith("/payload-too-large")
    assert Task.objects.count() == 1


def test_a_body_far_over_the_limit_is_refused_before_parsing(api: Caller) -> None:
    response = api.submit(payload={"s": "x" * (200 * 1024)})
    body = assert_problem(response, 413)
    assert "limit" in body["detail"]
    assert not Task.objects.exists()


def test_a_non_numeric_content_length_is_400(api: Caller) -> None:
    response = api.client.post("/api/tasks", "{}", content_type="application/json", CONTENT_LENGTH="lots")
    assert_problem(response, 400)


def test_a_deeply_nested_payload_never_answers_500(api: Caller) -> None:
    response = api.submit(payload=nested_object(40))
    assert response.status_code in (201, 400), response.content[:300]
    if response.status_code == 400:
        assert_problem(response, 400, "payload")


def test_a_deeply_nested_payload_in_a_batch_names_that_item(api: Caller) -> None:
    response = api.batch([{"type": "noop"}, {"type": "noop", "payload": nested_object(40)}])
    assert response.status_code in (201, 400), response.content[:300]
    if response.status_code == 400:
        assert_problem(response, 400, "tasks[1].payload")


# Regression: JSON nested beyond the recursion limit used to raise RecursionError in the parser (500).
def test_json_nested_beyond_the_recursion_limit_is_400(api: Caller) -> None:
    assert_problem(api.post("/api/tasks", "[" * 5000 + "]" * 5000), 400)


# Regression: run_at outside datetime's UTC range used to overflow when saved (500).
@pytest.mark.parametrize("run_at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_run_at_out_of_the_representable_range_is_400(api: Caller, run_at: str) -> None:
    assert_problem(api.submit(run_at=run_at), 400, "run_at")


# Regression: lone surrogates used to be stored, or to crash the write or the rendering (500).
@pytest.mark.parametrize(("path", "raw", "field"), [
    ("/api/tasks", r'{"type": "noop", "payload": {"s": "\ud800"}}', "payload"),
    ("/api/tasks", r'{"type": "noop", "payload": {"\udfff": 1}}', "payload"),
    ("/api/tasks", r'{"type": "noop", "idempotency_key": "k\ud800"}', "idempotency_key"),
    ("/api/tasks", r'{"type": "noop", "queue": "\ud800"}', "queue"),
    ("/api/tasks/batch", r'{"tasks": [{"type": "noop"}, {"type": "noop", "payload": {"s": "\ud800"}}]}',
     "tasks[1].payload"),
], ids=["payload-value", "payload-key", "idempotency-key", "queue", "batch-payload"])
def test_a_lone_surrogate_in_a_string_is_400(api: Caller, path: str, raw: str, field: str) -> None:
    api.client.raise_request_exception = False  # a crash is a 500 response, as a real client sees it
    body = assert_problem(api.post(path, raw), 400)
    if body.get("errors"):  # rejected by validation rather than by the parser: the field is named
        assert field in [e["field"] for e in body["errors"]]
    assert not Task.objects.exists()


# =========================================================================== idempotency


def test_an_idempotency_key_in_the_body_replays_the_original_with_200(api: Caller) -> None:
    first = api.submit(payload={"n": 1}, idempotency_key="order-1")
    assert first.status_code == 201
    again = api.submit(payload={"n": 2}, priority=5, idempotency_key="order-1")
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.json()["payload"] == {"n": 1}
    assert Task.objects.count() == 1


def test_the_idempotency_key_header_works_too(api: Caller) -> None:
    first = api.post("/api/tasks", {"type": "noop"}, HTTP_IDEMPOTENCY_KEY="hdr-1")
    assert first.status_code == 201
    assert first.json()["idempotency_key"] == "hdr-1"
    assert api.post("/api/tasks", {"type": "noop"}, HTTP_IDEMPOTENCY_KEY="hdr-1").json()["id"] == first.json()["id"]
    # The same key in the body or in both places names the same task.
    replay = api.submit(idempotency_key="hdr-1")
    assert (replay.status_code, replay.json()["id"]) == (200, first.json()["id"])
    both = api.post("/api/tasks", {"type": "noop", "idempotency_key": "hdr-1"}, HTTP_IDEMPOTENCY_KEY="hdr-1")
    assert (both.status_code, both.json()["id"]) == (200, first.json()["id"])
    assert Task.objects.count() == 1


def test_a_header_and_a_body_key_that_differ_are_400(api: Caller) -> None:
    response = api.post("/api/tasks", {"type": "noop", "idempotency_key": "a"}, HTTP_IDEMPOTENCY_KEY="b")
    assert_problem(response, 400, "idempotency_key")
    assert_problem(api.post("/api/tasks", {"type": "noop"}, HTTP_IDEMPOTENCY_KEY=""), 400, "idempotency_key")
    assert not Task.objects.exists()


def test_idempotency_keys_are_case_sensitive(api: Caller) -> None:
    a = api.submit(idempotency_key="Order-A")
    b = api.submit(idempotency_key="order-a")
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["id"] != b.json()["id"]


def test_idempotency_keys_differing_only_in_trailing_spaces_are_distinct(api: Caller) -> None:
    a = api.submit(idempotency_key="order-9")
    b = api.submit(idempotency_key="order-9 ")
    assert (a.status_code, b.status_code) == (201, 201)
    assert b.json()["idempotency_key"] == "order-9 "
    batch = api.batch([{"type": "noop", "idempotency_key": "x"}, {"type": "noop", "idempotency_key": "x "}])
    assert batch.status_code == 201, batch.content
    assert batch.json()["created"] == 2


# =========================================================================== POST /api/tasks/batch


def test_batch_creates_every_task_in_one_insert(api: Caller) -> None:
    specs = [{"type": "noop", "priority": 1 + i % 5, "payload": {"i": i}} for i in range(50)]
    with CaptureQueriesContext(connection) as queries:
        response = api.batch(specs)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["created"] == 50 and body["replayed"] == []
    assert len(body["ids"]) == 50 and len(set(body["ids"])) == 50
    rows = {t.pk: t for t in Task.objects.filter(pk__in=body["ids"])}
    assert [rows[pk].payload["i"] for pk in body["ids"]] == list(range(50))
    assert all(rows[pk].tenant_id == api.tenant.pk for pk in body["ids"])
    assert len(task_inserts(queries)) == 1


def test_a_batch_of_1000_is_accepted_in_one_insert_and_1001_is_not(api: Caller) -> None:
    with CaptureQueriesContext(connection) as queries:
        response = api.batch([{"type": "noop"}] * 1000)
    assert response.status_code == 201
    assert response.json()["created"] == 1000
    assert len(task_inserts(queries)) == 1
    assert_problem(api.batch([{"type": "noop"}] * 1001), 400, "tasks")
    assert Task.objects.count() == 1000


def test_batch_validation_is_all_or_nothing_with_per_item_errors(api: Caller) -> None:
    specs = [{"type": "noop"}, {"type": "noop", "priority": 9}, {"type": "noop"}, {"type": "nope"},
             "not an object", {"type": "noop", "colour": "red"}]
    body = assert_problem(api.batch(specs), 400, "tasks[1].priority", "tasks[3].type", "tasks[4].task",
                          "tasks[5].colour")
    assert [e["field"] for e in body["errors"]] == ["tasks[1].priority", "tasks[3].type", "tasks[4].task",
                                                    "tasks[5].colour"]
    assert not Task.objects.exists()


def test_a_batch_may_not_repeat_an_idempotency_key(api: Caller) -> None:
    specs = [{"type": "noop", "idempotency_key": "k"}, {"type": "noop", "idempotency_key": "k"}]
    assert_problem(api.batch(specs), 400, "tasks[1].idempotency_key")
    assert not Task.objects.exists()


def test_a_batch_item_over_64_kib_is_refused_naming_it(api: Caller) -> None:
    big = {"s": "x" * (64 * 1024)}
    response = api.batch([{"type": "noop"}, {"type": "noop", "payload": big}])
    assert response.status_code in (400, 413)
    assert_problem(response, response.status_code, "tasks[1].payload")
    assert not Task.objects.exists()


@pytest.mark.parametrize(("body", "field"), [
    ({}, "tasks"),
    ({"tasks": "noop"}, "tasks"),
    ({"tasks": {"type": "noop"}}, "tasks"),
    ({"tasks": []}, "tasks"),
    ({"tasks": [{"type": "noop"}], "extra": 1}, "extra"),
    ([{"type": "noop"}], "body"),
])
def test_batch_body_shape_errors(api: Caller, body: Any, field: str) -> None:
    assert_problem(api.post("/api/tasks/batch", body), 400, field)
    assert not Task.objects.exists()


def test_a_batch_body_over_the_limit_is_413(api: Caller, settings: Any) -> None:
    settings.JOBS = {**settings.JOBS, "API_MAX_BODY_BYTES": 2000}
    assert api.batch([{"type": "noop"}] * 10).status_code == 201
    assert_problem(api.batch([{"type": "noop", "payload": {"s": "x" * 100}}] * 20), 413)
    assert Task.objects.count() == 10


def test_a_batch_replays_keys_already_used(api: Caller) -> None:
    original = api.submit(idempotency_key="k1").json()
    response = api.batch([{"type": "noop", "idempotency_key": "k1"}, {"type": "noop", "idempotency_key": "k2"},
                          {"type": "noop"}])
    assert response.status_code == 201
    body = response.json()
    assert body["created"] == 2 and body["replayed"] == [0]
    assert body["ids"][0] == original["id"]
    assert Task.objects.count() == 3
    again = api.batch([{"type": "noop", "idempotency_key": "k1"}, {"type": "noop", "idempotency_key": "k2"}]).json()
    assert again["created"] == 0 and again["replayed"] == [0, 1] and again["ids"] == body["ids"][:2]
    assert Task.objects.count() == 3


# =========================================================================== GET /api/tasks: pages


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


# =========================================================================== GET /api/tasks: filters


@pytest.fixture
def assorted(api: Caller) -> dict[str, Task]:
    """A spread of tasks of tenant A over every filterable column."""
    now = timezone.now()
    return {
        "pending": make_task(api.tenant, "noop", priority=1, queue="default", idempotency_key="key-pending",
                             created_at=now - timedelta(hours=5)),
        "running": make_task(api.tenant, "sleep", status="running", priority=3, queue="slow",
                             created_at=now - timedelta(hours=4), started_at=now - timedelta(hours=1)),
        "completed": make_task(api.tenant, "send_email", status="completed", priority=5, queue="emails",
                               created_at=now - timedelta(hours=3), started_at=now - timedelta(hours=3),
                               finished_at=now - timedelta(hours=2)),
        "failed": make_task(api.tenant, "send_email", status="failed", priority=5, queue="emails",
                            created_at=now - timedelta(hours=2), started_at=now - timedelta(hours=2),
                            finished_at=now - timedelta(minutes=30)),
        "scheduled": make_task(api.tenant, "sleep", status="scheduled", priority=2,
                               created_at=now - timedelta(hours=1)),
    }


def names(assorted: dict[str, Task], response: Any) -> set[str]:
    by_id = {t.pk: name for name, t in assorted.items()}
    return {by_id[pk] for pk in ids_of(response)}


def at(hours_ago: float) -> str:
    return (timezone.now() - timedelta(hours=hours_ago)).isoformat()


@pytest.mark.parametrize(("params", "expected"), [
    ({"status": "pending"}, {"pending"}),
    ({"status": "pending,running"}, {"pending", "running"}),
    ({"status": ["completed", "failed"]}, {"completed", "failed"}),
    ({"status": "cancelled"}, set()),
    ({"type": "sleep"}, {"running", "scheduled"}),
    ({"type": "send"}, set()),  # type is exact; prefixes are q's job
    ({"priority": 5}, {"completed", "failed"}),
    ({"priority": "2"}, {"scheduled"}),
    ({"queue": "emails"}, {"completed", "failed"}),
    ({"queue": "default"}, {"pending", "scheduled"}),
    ({"created_after": "H2.5"}, {"failed", "scheduled"}),
    ({"created_before": "H2.5"}, {"pending", "running", "completed"}),
    ({"created_after": "H4.5", "created_before": "H1.5"}, {"running", "completed", "failed"}),
    ({"finished_after": "H1"}, {"failed"}),
    ({"finished_before": "H1"}, {"completed"}),
    ({"q": "send_"}, {"completed", "failed"}),
    ({"q": "key-pending"}, {"pending"}),
    ({"q": "  key-pending  "}, {"pending"}),
    ({"q": "nothing-matches"}, set()),
    ({"q": ""}, {"pending", "running", "completed", "failed", "scheduled"}),
    ({"status": "completed,failed,pending", "priority": 5, "queue": "emails", "q": "send"}, {"completed", "failed"}),
    ({"status": "failed", "type": "sleep"}, set()),
])
def test_filters(api: Caller, assorted: dict[str, Task], params: dict[str, Any], expected: set[str]) -> None:
    resolved = {k: at(float(v[1:])) if isinstance(v, str) and v.startswith("H") and k.endswith(("after", "before"))
                else v for k, v in params.items()}
    response = api.get("/api/tasks", resolved)
    assert names(assorted, response) == expected
    assert response.json()["total"] == len(expected)


def test_q_finds_a_task_by_id(api: Caller, assorted: dict[str, Task]) -> None:
    target = assorted["running"]
    assert names(assorted, api.get("/api/tasks", {"q": str(target.pk)})) == {"running"}
    assert names(assorted, api.get("/api/tasks", {"q": "9" * 25})) == set()


@pytest.mark.parametrize(("params", "field"), [
    ({"status": "bogus"}, "status"), ({"status": "pending,bogus"}, "status"), ({"priority": 0}, "priority"),
    ({"priority": 6}, "priority"), ({"priority": 2.5}, "priority"), ({"priority": "high"}, "priority"),
    ({"priority": "NaN"}, "priority"), ({"priority": "1e200000"}, "priority"),
    ({"created_after": "yesterday"}, "created_after"), ({"created_before": "2024-13-45T00:00:00Z"}, "created_before"),
    ({"finished_after": "soon"}, "finished_after"), ({"finished_before": "x"}, "finished_before"),
    ({"all": "maybe"}, ""),
])
def test_bad_filter_values_are_400_naming_the_parameter(api: Caller, params: dict[str, Any], field: str) -> None:
    if field:
        assert_problem(api.get("/api/tasks", params), 400, field)
    else:
        assert_problem(api.get("/api/tasks", params), 400)


@pytest.mark.parametrize("params", [
    {"type": "\x00"}, {"q": "\x00"}, {"q": "' OR 1=1 --"}, {"q": "%"}, {"q": "_"}, {"queue": "é" * 300},
    {"q": "1" * 18}, {"q": "0"}, {"status": ",,,"}, {"status": ""}, {"priority": ""}, {"priority": "-0"},
    {"page": "1" * 5000}, {"created_after": "2024-01-01"}, {"tenant": "globex"}, {"unknown": "param"},
    {"sort_by": "", "order": ""},
])
def test_odd_list_queries_never_answer_500(api: Caller, params: dict[str, Any]) -> None:
    make_task(api.tenant, idempotency_key="%")
    response = api.get("/api/tasks", params)
    assert response.status_code in (200, 400), response.content[:300]
    assert response["Content-Type"].startswith(("application/json", PROBLEM))


def test_like_wildcards_in_q_are_literal(api: Caller) -> None:
    literal = make_task(api.tenant, idempotency_key="50%")
    make_task(api.tenant, "sleep")
    assert ids_of(api.get("/api/tasks", {"q": "50%"})) == [literal.pk]
    assert ids_of(api.get("/api/tasks", {"q": "%"})) == []
    assert ids_of(api.get("/api/tasks", {"q": "_oop"})) == []


@pytest.mark.parametrize("q", ["²", "1²"])
def test_q_with_a_superscript_digit_never_answers_500(api: Caller, q: str) -> None:
    make_task(api.tenant)
    response = api.get("/api/tasks", {"q": q})
    assert response.status_code == 200
    assert response.json()["total"] == 0


# Regression: date filters outside datetime's UTC range used to overflow in the query (500).
@pytest.mark.parametrize(("field", "value"), [
    ("created_after", "0001-01-01T00:00:00+01:00"), ("finished_before", "9999-12-31T23:59:59-01:00"),
])
def test_date_filters_out_of_the_representable_range_are_400(api: Caller, field: str, value: str) -> None:
    assert_problem(api.get("/api/tasks", {field: value}), 400, field)


# =========================================================================== GET /api/tasks/{id}


def test_detail_has_the_attempts_timeline_worker_and_durations(api: Caller) -> None:
    created = timezone.now() - timedelta(minutes=10)
    started = created + timedelta(milliseconds=1500)
    finished = started + timedelta(milliseconds=250)
    errors = [
        {"attempt": 1, "at": (created + timedelta(seconds=1)).isoformat(), "type": "DemoFailure", "message": "boom",
         "worker": "host:1:aa", "traceback": "Traceback (most recent call last): ..."},
        {"attempt": 2, "at": finished.isoformat(), "type": "TimeoutError", "message": "slow", "worker": "host:2:bb"},
    ]
    task = make_task(api.tenant, "fail", status="failed", attempts=2, errors=errors, worker="host:2:bb",
                     created_at=created, started_at=started, finished_at=finished, max_retries=1)
    response = api.get(f"/api/tasks/{task.pk}")
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["status"], body["attempts"], body["worker"]) == (task.pk, "failed", 2, "host:2:bb")
    assert body["queue_wait_ms"] == 1500
    assert body["execution_ms"] == 250
    assert [e["attempt"] for e in body["errors"]] == [1, 2]
    assert [(e["type"], e["message"], e["worker"]) for e in body["errors"]] == [
        ("DemoFailure", "boom", "host:1:aa"), ("TimeoutError", "slow", "host:2:bb")]
    assert body["errors"][0]["traceback"].startswith("Traceback")
    assert body["last_error"] == "TimeoutError: slow"
    assert "lease_expires_at" in body and body["max_retries"] == 1


def test_detail_of_a_waiting_task_has_no_durations(api: Caller) -> None:
    task = make_task(api.tenant)
    body = api.get(f"/api/tasks/{task.pk}").json()
    assert body["queue_wait_ms"] is None and body["execution_ms"] is None and body["errors"] == []


@pytest.mark.parametrize("pk", ["999999", "9" * 30])
def test_detail_of_a_missing_task_is_404(api: Caller, pk: str) -> None:
    body = assert_problem(api.get(f"/api/tasks/{pk}"), 404)
    assert body["type"].endswith("/not-found")


def test_a_path_that_is_no_endpoint_is_a_problem_404(api: Caller) -> None:
    for path in ("/api/nothing", "/api/tasks/abc", "/api/tasks/1/"):
        assert_problem(api.get(path), 404)


@pytest.mark.parametrize(("method", "path"), [
    ("put", "/api/tasks"), ("delete", "/api/tasks"), ("delete", "/api/tasks/1"), ("patch", "/api/tasks/1"),
    ("get", "/api/tasks/batch"), ("get", "/api/tasks/1/cancel"), ("get", "/api/tasks/1/retry"),
    ("post", "/api/analytics"), ("post", "/api/analytics/types"), ("post", "/api/workers"),
    ("get", "/api/demo/seed"), ("delete", "/api/demo/clear"), ("post", "/api/health"),
])
def test_wrong_methods_are_405(api: Caller, method: str, path: str) -> None:
    response = getattr(api.client, method)(path)
    body = assert_problem(response, 405)
    assert body["title"] == "Method not allowed"


# =========================================================================== real worker round trip


@pytest.mark.django_db(transaction=True)
def test_detail_after_a_real_worker_ran_retries(api: Caller, inprocess_worker: Any) -> None:
    failing = api.submit("fail", payload={"message": "boom"}, max_retries=1).json()["id"]
    flaky = api.submit("flaky", payload={"fail_times": 1}).json()["id"]
    # A running worker rather than a burst: burst mode can exit before a retry runs (see the test below).
    inprocess_worker.start(threads=2)
    wait_for(lambda: Task.objects.filter(pk__in=[failing, flaky], status__in=["completed", "failed"]).count() == 2,
             timeout=60, what="both tasks to finish")
    inprocess_worker.stop()
    body = api.get(f"/api/tasks/{failing}").json()
    assert (body["status"], body["attempts"]) == ("failed", 2)
    assert [(e["attempt"], e["type"], e["message"]) for e in body["errors"]] == [
        (1, "DemoFailure", "boom"), (2, "DemoFailure", "boom")]
    assert body["worker"] == inprocess_worker.runtime.worker_id
    assert body["execution_ms"] >= 0 and body["queue_wait_ms"] >= 0
    assert body["last_error"] == "DemoFailure: boom"
    body = api.get(f"/api/tasks/{flaky}").json()
    assert (body["status"], body["attempts"], body["result"]) == ("completed", 2, "ok")
    assert [e["attempt"] for e in body["errors"]] == [1]


@pytest.mark.django_db(transaction=True)
def test_burst_mode_waits_for_outcomes_still_being_written(api: Caller, inprocess_worker: Any,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from jobs.store import finish as outcomes

    real_write = outcomes.write

    def slow_write(batch: Any, *, fence: Any = None) -> int:
        time.sleep(1.0)  # widen the window in which the outcome is taken but not yet written
        return real_write(batch, fence=fence)

    monkeypatch.setattr(outcomes, "write", slow_write)
    task = api.submit("fail", max_retries=1).json()["id"]
    inprocess_worker.burst(threads=1)
    body = api.get(f"/api/tasks/{task}").json()
    assert (body["status"], body["attempts"]) == ("failed", 2)


# =========================================================================== cancel / retry


def test_cancel_a_pending_and_a_scheduled_task(api: Caller) -> None:
    pending = make_task(api.tenant)
    scheduled = make_task(api.tenant, status="scheduled", run_at=timezone.now() + timedelta(hours=1))
    for task in (pending, scheduled):
        response = api.post(f"/api/tasks/{task.pk}/cancel")
        assert response.status_code == 200
        body = response.json()
        assert (body["id"], body["status"]) == (task.pk, "cancelled")
        assert body["finished_at"] is not None
        task.refresh_from_db()
        assert task.status == Status.CANCELLED


def test_cancel_a_running_task_asks_it_to_stop(api: Caller) -> None:
    task = make_task(api.tenant, status="running", worker="host:1:w", started_at=timezone.now(), attempts=1,
                     lease_expires_at=timezone.now() + timedelta(seconds=30))
    response = api.post(f"/api/tasks/{task.pk}/cancel")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["cancel_requested"]) == ("running", True)
    task.refresh_from_db()
    assert task.cancel_requested and task.status == Status.RUNNING


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled"])
def test_cancel_a_finished_task_is_409_naming_its_status(api: Caller, status: str) -> None:
    task = make_task(api.tenant, status=status, finished_at=timezone.now())
    body = assert_problem(api.post(f"/api/tasks/{task.pk}/cancel"), 409)
    assert body["current_status"] == status
    assert status in body["detail"]
    task.refresh_from_db()
    assert task.status == status


def test_cancel_a_missing_task_is_404(api: Caller) -> None:
    assert_problem(api.post("/api/tasks/424242/cancel"), 404)


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_retry_requeues_a_failed_or_cancelled_task(api: Caller, status: str) -> None:
    errors = [{"attempt": 1, "at": timezone.now().isoformat(), "type": "X", "message": "m", "worker": "w"}]
    task = make_task(api.tenant, status=status, attempts=4, errors=errors, finished_at=timezone.now(),
                     worker="w", started_at=timezone.now())
    response = api.post(f"/api/tasks/{task.pk}/retry")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["attempts"], body["finished_at"], body["worker"]) == ("pending", 0, None, None)
    task.refresh_from_db()
    assert task.status == Status.PENDING and task.errors == errors  # the history is kept


@pytest.mark.parametrize("status", ["pending", "scheduled", "running", "completed"])
def test_retry_of_a_task_that_is_not_failed_or_cancelled_is_409(api: Caller, status: str) -> None:
    task = make_task(api.tenant, status=status)
    body = assert_problem(api.post(f"/api/tasks/{task.pk}/retry"), 409)
    assert body["current_status"] == status
    assert status in body["detail"]
    task.refresh_from_db()
    assert task.status == status


def test_retry_a_missing_task_is_404(api: Caller) -> None:
    assert_problem(api.post("/api/tasks/424242/retry"), 404)


def test_cancel_and_retry_keep_the_analytics_consistent(api: Caller) -> None:
    task = api.submit().json()
    assert api.post(f"/api/tasks/{task['id']}/cancel").status_code == 200
    overview = api.get("/api/analytics").json()
    assert overview["by_status"]["cancelled"] == 1 and overview["by_status"]["pending"] == 0
    assert overview["total"] == 1 and overview["failure_rate"] == 0.0
    assert api.post(f"/api/tasks/{task['id']}/retry").status_code == 200
    overview = api.get("/api/analytics").json()
    assert overview["by_status"]["cancelled"] == 0 and overview["by_status"]["pending"] == 1
    assert overview["total"] == 1


# =========================================================================== analytics


def test_analytics_of_a_fresh_tenant(api: Caller) -> None:
    body = api.get("/api/analytics").json()
    assert body["total"] == 0
    assert body["by_status"] == dict.fromkeys(["pending", "scheduled", "running", "completed", "failed", "cancelled"],
                                              0)
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
    assert body["by_status"] == {"pending": 2, "scheduled": 1, "running": 1, "completed": 3, "failed": 1,
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
    assert noop["by_status"] == {"pending": 0, "scheduled": 0, "running": 0, "completed": 2, "failed": 1,
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


# =========================================================================== workers


def worker_row(wid: str, slots: list[dict[str, Any]], *, heartbeat: datetime | None = None,
               queues: str = "", instance: str = "host-a") -> WorkerProcess:
    return WorkerProcess.objects.create(
        id=wid, instance=instance, hostname=instance, pid=100, queues=queues, threads=len(slots),
        slots=slots, last_heartbeat=heartbeat or timezone.now(),
    )


def slot(index: int, task: Task | None = None, started: datetime | None = None) -> dict[str, Any]:
    return {"slot": index, "task_id": task.pk if task else None, "type": task.type if task else None,
            "tenant_id": task.tenant_id if task else None,
            "started_at": (started or timezone.now()).isoformat() if task else None}


def test_workers_lists_live_processes_with_their_slots(api: Caller) -> None:
    mine = make_task(api.tenant, "sleep", status="running")
    started = timezone.now() - timedelta(seconds=3)
    worker_row("host-a:100:x", [slot(0, mine, started), slot(1)], queues="default,emails")
    worker_row("host-a:101:dead", [slot(0)], heartbeat=timezone.now() - timedelta(minutes=5))
    worker_row("host-b:7:y", [slot(0), slot(1), slot(2)], instance="host-b")
    response = api.get("/api/workers")
    assert response.status_code == 200
    process, other = response.json()  # every live process on every instance; the dead one is gone
    assert (other["id"], other["instance"], other["busy"], other["queues"]) == ("host-b:7:y", "host-b", 0, [])
    assert [s["busy"] for s in other["slots"]] == [False, False, False]
    assert process["id"] == "host-a:100:x"
    assert (process["instance"], process["hostname"], process["pid"], process["threads"]) == ("host-a", "host-a",
                                                                                                 100, 2)
    assert process["queues"] == ["default", "emails"]
    assert process["busy"] == 1
    busy, idle = process["slots"]
    assert (busy["slot"], busy["busy"], busy["task_id"], busy["type"], busy["tenant"]) == (0, True, mine.pk,
                                                                                           "sleep", "acme")
    assert abs(when(busy["started_at"]) - started) < timedelta(milliseconds=1)
    assert busy["running_ms"] >= 3000
    assert idle == {"slot": 1, "busy": False, "task_id": None, "type": None, "tenant": None, "started_at": None,
                    "running_ms": None}


def test_workers_when_none_are_alive(api: Caller) -> None:
    assert api.get("/api/workers").json() == []


# =========================================================================== demo


@pytest.mark.parametrize("path", ["/api/demo/seed", "/api/demo/clear"])
def test_demo_endpoints_are_off_unless_demo_mode(operator_api: Caller, path: str) -> None:
    assert not api_conf().DEMO_MODE
    assert_problem(operator_api.post(path), 404)
    assert not Task.objects.exists()


def test_demo_seed_and_clear(operator_api: Caller, demo_mode: None) -> None:
    response = operator_api.post("/api/demo/seed")
    assert response.status_code == 201
    assert response.json() == {"created": 50}
    seeded = Task.objects.filter(tenant=operator_api.tenant)
    assert seeded.count() == 50
    assert set(seeded.values_list("type", flat=True)) <= {"send_email", "resize_image", "generate_report",
                                                           "call_webhook"}
    assert all(1 <= p <= 5 for p in seeded.values_list("priority", flat=True))
    finish(seeded.first(), "completed", wait_ms=5, exec_ms=5)
    response = operator_api.post("/api/demo/clear")
    assert response.status_code == 200
    assert response.json() == {"deleted": 50}
    assert not Task.objects.exists()
    assert not TaskStat.objects.exists() and not ThroughputBucket.objects.exists()


@pytest.mark.parametrize("path", ["/api/demo/seed", "/api/demo/clear"])
def test_demo_endpoints_refuse_tenant_keys(api: Caller, demo_mode: None, path: str) -> None:
    make_task(api.tenant)
    body = assert_problem(api.post(path), 403)
    assert body["type"].endswith("/operator-only")
    assert Task.objects.count() == 1


# =========================================================================== the error shape


def test_every_error_is_a_problem_document(api: Caller) -> None:
    """One shape for 400, 401, 404, 405, 409, 413, 415."""
    done = make_task(api.tenant, status="completed")
    responses = {
        400: api.post("/api/tasks", {}),
        401: Client().get("/api/tasks"),
        404: api.get("/api/tasks/999999"),
        405: api.client.delete("/api/tasks"),
        409: api.post(f"/api/tasks/{done.pk}/cancel"),
        413: api.submit(payload={"s": "x" * (65 * 1024)}),
        415: api.client.post("/api/tasks", "x", content_type="text/plain"),
    }
    for status, response in responses.items():
        body = assert_problem(response, status)
        assert set(body) >= {"type", "title", "status", "detail"}


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
