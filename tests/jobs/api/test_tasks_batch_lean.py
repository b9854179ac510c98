"""POST /api/tasks/batch on its lean path: statements that do not grow with the batch, the rows and
the per-item errors the same as the one-task path and the validation of each item would give."""

from typing import Any

import pytest
from django.db import connection
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext

from jobs.models import Event, Task
from tests.support.api import Caller, assert_problem

pytestmark = pytest.mark.django_db


def statements(api: Caller, specs: list[dict[str, Any]]) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        response = api.batch(specs)
    assert response.status_code == 201, response.content
    assert response.json()["created"] == len(specs)
    return [q["sql"].lstrip().split(" ", 1)[0].upper() for q in queries.captured_queries]


def test_a_plain_batch_costs_the_same_statements_for_10_and_for_500_tasks(api: Caller) -> None:
    api.batch([{"type": "noop"}])  # the key's verification and grants, cached from here on
    small = statements(api, [{"type": "noop", "payload": {"i": i}} for i in range(10)])
    large = statements(api, [{"type": "noop", "payload": {"i": i}} for i in range(500)])
    assert small == large
    # SAVEPOINT ×2: the view's transaction.atomic() and save_many's retry savepoint (inside the
    # test's own transaction both are savepoints; in production the first is BEGIN … COMMIT);
    # INSERT: the 500 task rows, one statement; INSERT: their one outbox Event row;
    # RELEASE ×2: the two savepoints. No SELECT: no key to look up, the grants are cached.
    assert large == ["SAVEPOINT", "SAVEPOINT", "INSERT", "INSERT", "RELEASE", "RELEASE"]
    event = Event.objects.latest("id")
    assert len(event.changes) == 500 and {c["event"] for c in event.changes} == {"task.created"}


def test_a_keyed_batch_costs_the_same_statements_for_10_and_for_500_tasks(api: Caller) -> None:
    def keyed(n: int) -> list[dict[str, Any]]:
        return [{"type": "noop", "idempotency_key": f"k{n}-{i}", "unique_key": f"u{n}-{i}",
                 "concurrency_key": "shared"} for i in range(n)]

    api.batch([{"type": "noop", "concurrency_key": "shared"}])  # the key's verification, the ConcurrencyKey row
    small = statements(api, keyed(10))
    large = statements(api, keyed(500))
    assert small == large
    # SELECT: the idempotency keys already used (a replay is answered, not charged);
    # SELECT: the live holders of the unique keys (a duplicate is not charged either);
    # SAVEPOINT ×2 as above; SELECT: the ConcurrencyKey rows the tasks name (present: no INSERT);
    # INSERT: the task rows; INSERT: their Event row; RELEASE ×2. The first try of the insert
    # uses the two lookups the view made (save_many's ``looked_up``), so none is repeated.
    assert large == ["SELECT", "SELECT", "SAVEPOINT", "SAVEPOINT", "SELECT", "INSERT", "INSERT", "RELEASE",
                     "RELEASE"]


def test_repeated_bad_items_are_each_reported_with_their_index_and_the_same_error(api: Caller) -> None:
    """Each distinct spec is validated once: its repeats must still be named one by one."""
    specs: list[Any] = [{"type": "noop", "priority": 9}] * 3 + [{"type": "noop"}] + [{"type": "nope"}] * 2 + [
        {"type": "noop", "priority": 9}, "not an object", {"type": "noop", "idempotency_key": "k"},
        {"type": "noop", "idempotency_key": "k"}]
    body = assert_problem(api.batch(specs), 400)
    singles = {field: api.submit(**spec).json()["errors"][0]["message"]
               for field, spec in [("priority", {"priority": 9}), ("type", {"type": "nope"})]}
    assert body["errors"] == [
        *({"field": f"tasks[{i}].priority", "message": singles["priority"]} for i in (0, 1, 2)),
        *({"field": f"tasks[{i}].type", "message": singles["type"]} for i in (4, 5)),
        {"field": "tasks[6].priority", "message": singles["priority"]},
        {"field": "tasks[7].task", "message": "must be an object"},
        {"field": "tasks[9].idempotency_key", "message": "repeated within the batch"},
    ]
    assert not Task.objects.exists()


SPEC = {"type": "noop", "priority": 4, "payload": {"n": 1, "text": "é ' \\ \" %s"}, "queue": "default",
        "max_retries": 2, "max_lost": 1, "timeout_seconds": 30, "concurrency_key": "c", "concurrency_limit": 2,
        "unique_for": 60, "delay_seconds": 120}
#: Set by the clock of each request, or the row's own identity.
PER_REQUEST = {"id", "run_at", "created_at", "unique_until", "unique_key", "unique_active", "idempotency_key",
               "request_hash"}


def test_the_batch_writes_the_rows_the_one_task_path_writes(api: Caller) -> None:
    one = api.submit(**SPEC, unique_key="single", idempotency_key="single")
    assert one.status_code == 201, one.content
    response = api.batch([{**SPEC, "unique_key": f"u{i}", "idempotency_key": f"k{i}"} for i in range(3)]
                         + [{"type": "noop"}] * 2)
    assert response.status_code == 201, response.content
    ids = response.json()["ids"]
    single = model_to_dict(Task.objects.get(pk=one.json()["id"]), exclude=PER_REQUEST)
    rows = {t.pk: t for t in Task.objects.filter(pk__in=ids)}
    for i, pk in enumerate(ids[:3]):
        row = rows[pk]
        assert model_to_dict(row, exclude=PER_REQUEST) == single
        assert (row.unique_key, row.unique_active, row.idempotency_key) == (f"u{i}", f"u{i}", f"k{i}")
        assert row.request_hash and row.unique_until is not None and row.run_at > row.created_at
    plain = model_to_dict(Task.objects.get(pk=api.submit().json()["id"]), exclude=PER_REQUEST)
    assert [model_to_dict(rows[pk], exclude=PER_REQUEST) for pk in ids[3:]] == [plain, plain]
    # Repeats of one spec get rows of their own (their own payload object too).
    assert rows[ids[3]].payload == {} and rows[ids[3]].errors == []


def test_specs_equal_in_python_but_not_in_json_are_validated_apart(api: Caller) -> None:
    """``True == 1`` and ``{"n": 1} == {"n": 1.0}``: a repeat is a spec of the same JSON, not merely equal."""
    specs = [{"type": "noop", "priority": 1}, {"type": "noop", "priority": True},
             {"type": "noop", "payload": {"n": 1}}, {"type": "noop", "payload": {"n": 1.0}}]
    body = assert_problem(api.batch(specs), 400)
    assert [e["field"] for e in body["errors"]] == ["tasks[1].priority"]
    created = api.batch([specs[0], *specs[2:]]).json()["ids"]
    payloads = [Task.objects.get(pk=pk).payload for pk in created]
    assert payloads == [{}, {"n": 1}, {"n": 1.0}]
    assert [type(p.get("n")) for p in payloads[1:]] == [int, float]
