"""No row can grow until no UPDATE can carry it: bounded error history and results."""

import pytest
from django.db.models import Q

from jobs.lifecycle import Status
from jobs.models import Task
from jobs.services.enqueue import enqueue
from jobs.store import finish
from tests.support.builders import claim

pytestmark = pytest.mark.django_db(transaction=True)


def _claim(task: Task, *, worker: str = "w1") -> Task:
    return claim(task, worker=worker)


def test_the_error_history_keeps_the_first_and_the_latest_entries_and_counts_the_rest(tenant, settings):
    settings.JOBS = {**settings.JOBS, "ERROR_HISTORY": 5}
    task = enqueue("noop", tenant=tenant, max_retries=100)
    for attempt in range(1, 13):
        run = _claim(task)
        outcome = finish.failed(run, RuntimeError(f"boom {attempt} " + "x" * 60_000), worker="w1")
        assert finish.write([outcome], fence=Q(worker="w1")) == 1
    task.refresh_from_db()
    assert [e["attempt"] for e in task.errors] == [1, 8, 9, 10, 11, 12]
    assert task.errors_dropped == 6 and len(task.errors) + task.errors_dropped == 12
    assert all(len(e["message"]) == 2000 and e["message"].startswith("boom") for e in task.errors)
    assert all(len(e.get("traceback", "")) <= 4000 for e in task.errors)


def test_a_result_over_the_limit_fails_the_attempt_with_a_clear_error(tenant, settings):
    settings.JOBS = {**settings.JOBS, "MAX_RESULT_BYTES": 1000}
    task = _claim(enqueue("noop", tenant=tenant, max_retries=3))
    outcome = finish.succeeded(task, {"blob": "y" * 5000})
    assert outcome.status == Status.FAILED, "deterministic: not worth a retry"
    assert finish.write([outcome], fence=Q(worker="w1")) == 1
    task.refresh_from_db()
    assert task.status == Status.FAILED and task.result is None
    assert task.errors[-1]["type"] == "ResultTooLarge" and "MAX_RESULT_BYTES" in task.errors[-1]["message"]
    small = _claim(enqueue("noop", tenant=tenant))
    assert finish.succeeded(small, {"ok": "é" * 400}).status == Status.COMPLETED  # 800 bytes of UTF-8: within
