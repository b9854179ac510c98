"""Every invalid field at once, and the same limit answering the same status inside and outside a batch.

Two of these wait on the engine's validation (``jobs.spec``: it stops at a spec's first invalid
field, and a batch item over the payload limit becomes a plain invalid item): they are strict
xfails, so the change that makes them pass must remove the mark.
"""

import pytest

from jobs.models import Task
from tests.support.api import Caller, assert_problem

pytestmark = pytest.mark.django_db

TOO_BIG = {"s": "x" * (65 * 1024)}


def test_every_invalid_batch_item_is_listed(api: Caller) -> None:
    body = assert_problem(api.batch([{"type": "noop", "priority": 9}, {"type": "noop"}, {"priority": 2},
                                     "not an object"]), 400, "tasks[0].priority", "tasks[2].type", "tasks[3].task")
    assert len(body["errors"]) == 3
    assert not Task.objects.exists()


def test_every_invalid_query_parameter_value_is_listed(api: Caller) -> None:
    body = assert_problem(api.get("/api/tasks", {"priority": "9", "created_after": "yesterday", "status": "nope"}),
                          400, "priority", "created_after", "status")
    assert len(body["errors"]) == 3


def test_the_priority_limit_is_a_400_alone_and_in_a_batch(api: Caller) -> None:
    assert_problem(api.submit(priority=9), 400, "priority")
    assert_problem(api.batch([{"type": "noop"}, {"type": "noop", "priority": 9}]), 400, "tasks[1].priority")


def test_the_payload_limit_is_a_413_alone_and_in_a_batch(api: Caller) -> None:
    assert_problem(api.submit(payload=TOO_BIG), 413, "payload")
    assert_problem(api.batch([{"type": "noop"}, {"type": "noop", "payload": TOO_BIG}]), 413, "tasks[1].payload")


def test_every_invalid_field_of_one_task_is_listed(api: Caller) -> None:
    body = assert_problem(api.submit(priority=9, max_retries=-1, timeout_seconds=0), 400,
                          "priority", "max_retries", "timeout_seconds")
    assert len(body["errors"]) == 3


def test_every_invalid_field_of_every_batch_item_is_listed(api: Caller) -> None:
    body = assert_problem(api.batch([{"type": "noop"}, {"type": "noop", "priority": 0, "queue": 7},
                                     {"type": "noop", "bogus": 1, "max_retries": "x"}]), 400,
                          "tasks[1].priority", "tasks[1].queue", "tasks[2].bogus", "tasks[2].max_retries")
    assert len(body["errors"]) == 4


def test_a_payload_over_the_limit_beside_another_invalid_field_is_a_400_naming_both(api: Caller) -> None:
    assert_problem(api.submit(payload=TOO_BIG, priority=9), 400, "payload", "priority")
