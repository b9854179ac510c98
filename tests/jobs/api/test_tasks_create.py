"""POST /api/tasks: defaults, every option, validation, body and payload limits, and inputs that used to crash."""

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from jobs.conf import conf
from jobs.lifecycle import Status
from jobs.models import Task
from tenants.models import Tenant
from tests.support.api import Caller, assert_problem, when

pytestmark = pytest.mark.django_db


def nested_object(depth: int) -> dict[str, Any]:
    """``{"a": {"a": … {}}}``, ``depth`` levels deep."""
    root: dict[str, Any] = {}
    node = root
    for _ in range(depth - 1):
        node["a"] = {}
        node = node["a"]
    return root


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
    Tenant.objects.filter(pk=api.tenant.pk).update(allowed_queues=["emails"])  # a queue of its own
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
    ({"type": "noop", "concurrency_key": ""}, "concurrency_key"),
    ({"type": "noop", "concurrency_key": "k" * 201}, "concurrency_key"),
    ({"type": "noop", "concurrency_key": 5}, "concurrency_key"),
    ({"type": "noop", "concurrency_limit": 2}, "concurrency_limit"),
    ({"type": "noop", "concurrency_key": "k", "concurrency_limit": 0}, "concurrency_limit"),
    ({"type": "noop", "concurrency_key": "k", "concurrency_limit": "2"}, "concurrency_limit"),
    ({"type": "noop", "resource": ""}, "resource"),
    ({"type": "noop", "resource": ["a"]}, "resource"),
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
    named = [e["field"] for e in body["errors"]]
    # Rejected by the parser (the body is what is invalid) or by validation (which names the field).
    assert named == ["body"] or field in named
    assert not Task.objects.exists()


def test_submit_with_a_concurrency_key_and_a_resource(api: Caller) -> None:
    response = api.submit(concurrency_key="acct-42", concurrency_limit=3, resource="partner-api")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["concurrency_key"], body["concurrency_limit"], body["resource"]) == ("acct-42", 3, "partner-api")
    task = Task.objects.get(pk=body["id"])
    assert (task.concurrency_key, task.concurrency_limit, task.resource) == ("acct-42", 3, "partner-api")
    why = api.get(f"/api/tasks/{task.pk}/why").json()
    assert why["code"] == "no_worker" and set(why) == {"code", "message", "detail", "eta"}


def test_a_type_s_default_key_comes_from_the_payload(api: Caller) -> None:
    from jobs.registry import TaskType, registry

    registry.register(TaskType(name="per_account", func=lambda payload, ctx: None,
                               concurrency_key=lambda payload: payload.get("account"), concurrency_limit=2,
                               resource="mail"))
    try:
        body = api.submit("per_account", payload={"account": 7}).json()
        assert (body["concurrency_key"], body["concurrency_limit"], body["resource"]) == ("7", 2, "mail")
        # No account: the function returns None, so the task has no key.
        assert api.submit("per_account", payload={}).json()["concurrency_key"] is None
        # The request's own fields win over the type's.
        assert api.submit("per_account", payload={"account": 7}, concurrency_key="x").json()["concurrency_key"] == "x"
    finally:
        registry._types.pop("per_account", None)
