"""``/api/sse/events`` against real daphne and worker processes: filters, results in completion
events, and the explicit reset of a Last-Event-ID beyond the newest event."""

import json

import pytest

from jobs.models import Event
from jobs.services.enqueue import enqueue
from tenants import keys
from tests.support.sse import LIFECYCLE, events_of, request, run_burst

pytestmark = pytest.mark.django_db(transaction=True)


def _opened(s):  # type: ignore[no-untyped-def]
    assert s.status == 200
    s.wait(lambda s: any(m.id is not None for m in s.snapshot()), what="the opening id:")
    return s


def test_filters_keep_the_matching_changes_and_completions_carry_the_result(tenant, daphne, workers,
                                                                            streams) -> None:
    _, raw = keys.issue(tenant)
    auth = {"X-API-Key": raw}
    watched = enqueue("record", tenant=tenant)
    other = enqueue("record", tenant=tenant)
    noop = enqueue("noop", tenant=tenant)
    everything = _opened(streams(daphne.port, "/api/sse/events", auth))
    one = _opened(streams(daphne.port, f"/api/sse/events?task_ids={watched.pk}&events=task.completed", auth))
    by_type = _opened(streams(daphne.port, "/api/sse/events?types=noop&statuses=running,completed", auth))

    last = enqueue("noop", tenant=tenant)  # created after the streams opened: a live change
    run_burst(workers)
    ids = {watched.pk, other.pk, noop.pk, last.pk}
    wanted = {(pk, "task.started") for pk in ids} | {(pk, "task.completed") for pk in ids}
    everything.wait(lambda s: events_of(s, ids) >= wanted, what="every task's changes")
    last_seq = max(seq for seq, _, _ in everything.changes())
    one.wait(lambda s: s.last_id() >= last_seq, what="the watermark past every change")
    by_type.wait(lambda s: s.last_id() >= last_seq, what="the watermark past every change")

    assert [(c["task"], c["event"]) for _, _, c in one.changes()] == [(watched.pk, "task.completed")]
    assert [c["result"] for _, _, c in one.changes()] == [{"task": watched.pk, "attempt": 1}], "the result"
    assert {(c["task"], c["event"]) for _, _, c in by_type.changes()} == {
        (pk, e) for pk in (noop.pk, last.pk) for e in ("task.started", "task.completed")}
    assert {(last.pk, "task.created")} <= events_of(everything, ids), "the unfiltered stream has every change"
    completions = [c for _, _, c in everything.changes() if c["event"] == "task.completed"]
    assert all("result" in c for c in completions) and any(c["result"] is None for c in completions), \
        "noop returns nothing: null"


def test_bad_filters_are_400_naming_every_field(tenant, daphne) -> None:
    _, raw = keys.issue(tenant)
    status, _, body = request(daphne.port, "/api/sse/events?statuses=done&task_ids=x,1&events=&stauts=failed",
                              {"X-API-Key": raw})
    assert status == 400
    problem = json.loads(body)
    assert sorted(e["field"] for e in problem["errors"]) == ["events", "statuses", "stauts", "task_ids"]


def test_a_last_event_id_beyond_the_newest_event_is_reset_first(tenant, daphne, streams) -> None:
    _, raw = keys.issue(tenant)
    enqueue("noop", tenant=tenant)
    newest = Event.objects.order_by("-id").values_list("id", flat=True).first()
    assert newest is not None
    s = _opened(streams(daphne.port, "/api/sse/events", {"X-API-Key": raw, "Last-Event-ID": "999999999"}))
    s.wait(lambda s: s.events("reset"), what="the reset")
    first = next(m for m in s.snapshot() if m.event)
    assert first.event == "reset" and first.json()["reason"] == "ahead"
    assert first.id is not None and first.id <= newest, "live from this server's ids, not the client's"

    task = enqueue("noop", tenant=tenant)
    s.wait(lambda s: events_of(s, {task.pk}) == {(task.pk, LIFECYCLE[0])}, what="live events after the reset")
    assert all(m.id is not None and m.id < 999999999 for m in s.events("tasks"))
