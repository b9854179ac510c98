"""ctx.snooze in a real worker runtime (in-process): rescheduled uncharged, runs again, completes; cancel wins."""

from itertools import pairwise

import pytest

from jobs.lifecycle import Status
from jobs.models import Event, Task
from jobs.services import control
from jobs.services.enqueue import enqueue
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def starts(path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines() if line.startswith("start")] \
        if path.exists() else []


def events(task: Task) -> list[str]:
    return [c["event"] for e in Event.objects.filter(tenant_id=task.tenant_id).order_by("id") for c in e.changes
            if c["task"] == task.pk]


def test_a_snoozing_handler_runs_again_later_without_being_charged(tenant, inprocess_worker, tmp_path):
    log = tmp_path / "runs.log"
    # max_retries=0: were the snooze charged, or caught by the handler's except Exception, the
    # task could not complete.
    task = enqueue("snoozy", tenant=tenant, payload={"log": str(log), "seconds": 0.2, "times": 2})
    inprocess_worker.burst(threads=2)
    task.refresh_from_db()
    assert task.status == Status.COMPLETED, task.errors
    assert task.result == {"runs": 3, "attempt": 1}
    assert (task.attempts, task.snoozed, task.errors) == (1, 2, [])
    runs = starts(log)
    assert [line[2] for line in runs] == ["1", "1", "1"], "every run was attempt 1"
    gaps = [float(b[4]) - float(a[4]) for a, b in pairwise(runs)]
    assert all(gap >= 0.2 for gap in gaps), gaps
    assert events(task).count("task.snoozed") == 2
    assert events(task)[-1] == "task.completed"


def test_a_snooze_after_a_cancel_request_ends_cancelled(tenant, inprocess_worker, tmp_path):
    log = tmp_path / "runs.log"
    task = enqueue("snooze-when-cancelled", tenant=tenant, payload={"log": str(log)})
    inprocess_worker.start(threads=2)
    wait_for(lambda: starts(log), what="the task to start")
    control.cancel(task.pk)
    wait_for(lambda: Task.objects.get(pk=task.pk).status == Status.CANCELLED, timeout=20, what="cancellation")
    task.refresh_from_db()
    assert (task.attempts, task.snoozed) == (1, 0)
    assert "task.snoozed" not in events(task)


def test_a_bad_snooze_is_a_failed_attempt_with_a_clear_error(tenant, inprocess_worker):
    tasks = [enqueue("snooze-for", tenant=tenant, payload={"seconds": s}) for s in (-3, "soon", 10 ** 9)]
    inprocess_worker.burst(threads=2)
    for task in tasks:
        task.refresh_from_db()
        assert (task.status, task.attempts, task.snoozed) == (Status.FAILED, 1, 0)
        (entry,) = task.errors
        assert entry["type"] == "ValueError"
        assert entry["message"].startswith("ctx.snooze(seconds): seconds must be a number > 0 and ≤ 86400")
