"""GET /api/tasks/{id} (also after a real worker ran) and the cancel and retry actions."""

import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from jobs.lifecycle import Status
from jobs.models import Task
from tests.support.api import Caller, assert_problem
from tests.support.builders import make_task
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db


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
                     created_at=created, run_at=created, started_at=started, finished_at=finished, max_retries=1)
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


@pytest.mark.parametrize(("action", "status"), [
    ("cancel", "completed"), ("cancel", "failed"), ("cancel", "cancelled"),
    ("retry", "pending"), ("retry", "scheduled"), ("retry", "running"), ("retry", "completed"),
])
def test_an_action_the_status_forbids_is_409_naming_the_status(api: Caller, action: str, status: str) -> None:
    """Cancel of a finished task; retry of a task that is neither failed nor cancelled."""
    finished = {"finished_at": timezone.now()} if action == "cancel" else {}  # the tasks cancel meets are finished
    task = make_task(api.tenant, status=status, **finished)
    body = assert_problem(api.post(f"/api/tasks/{task.pk}/{action}"), 409)
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


def test_queue_wait_counts_from_when_the_attempt_was_due(api: Caller) -> None:
    """A task delayed 10 minutes and picked up 56 ms after its run_at waited 56 ms, not 10 minutes;
    one waiting out a retry's back-off has no current wait."""
    due = timezone.now() - timedelta(seconds=5)
    delayed = make_task(api.tenant, "noop", status="completed", created_at=due - timedelta(minutes=10), run_at=due,
                        started_at=due + timedelta(milliseconds=56), finished_at=due + timedelta(seconds=1))
    assert api.get(f"/api/tasks/{delayed.pk}").json()["queue_wait_ms"] == 56
    retrying = make_task(api.tenant, "noop", status="scheduled", attempts=1, created_at=due, run_at=timezone.now()
                         + timedelta(minutes=1), started_at=due + timedelta(seconds=1))
    assert api.get(f"/api/tasks/{retrying.pk}").json()["queue_wait_ms"] is None
