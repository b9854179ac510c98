"""POST /api/tasks/batch: one insert, the 1000-task cap, all-or-nothing validation and replays."""

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs.models import Task
from tests.support.api import Caller, assert_problem

pytestmark = pytest.mark.django_db


def task_inserts(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries
            if q["sql"].lstrip().upper().startswith("INSERT") and "jobs_task" in q["sql"].replace("`", '"')
            and "jobs_taskstat" not in q["sql"]]


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
