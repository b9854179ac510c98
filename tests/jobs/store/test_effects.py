"""The effects of transitions: every state change of a run lands in the event outbox."""

import pytest

from jobs.services import control
from jobs.services.enqueue import enqueue

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_state_change_lands_in_the_event_outbox(tenant, inprocess_worker):
    from jobs.models import Event

    ok = enqueue("noop", tenant=tenant)
    bad = enqueue("fail", tenant=tenant, max_retries=1)
    waiting = enqueue("noop", tenant=tenant, delay_seconds=3600)
    control.cancel(waiting.pk)
    inprocess_worker.burst(threads=2)
    changes = [c for e in Event.objects.filter(tenant=tenant).order_by("id") for c in e.changes]
    by_task: dict[int, list[str]] = {}
    for c in changes:
        by_task.setdefault(c["task"], []).append(c["event"])
    assert by_task[ok.pk] == ["task.created", "task.started", "task.completed"]
    # Promotion (the retry came due) is a transition too, and says so.
    assert by_task[bad.pk] == ["task.created", "task.started", "task.retrying", "task.promoted", "task.started",
                              "task.failed"]
    assert by_task[waiting.pk] == ["task.created", "task.cancelled"]
    failed = next(c for c in changes if c["event"] == "task.failed")
    assert failed["error"].startswith("DemoFailure") and failed["attempt"] == 2
