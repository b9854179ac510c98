"""``/api/sse/events`` against real daphne and worker processes: live, resume, auth, scope, heartbeat."""

import json

import pytest

from jobs.lifecycle import Status
from jobs.models import Event, Task
from jobs.services.enqueue import enqueue
from tenants import keys
from tests.support.sse import LIFECYCLE, events_of, request, run_burst
from tests.support.waiting import wait_for

# Ids restart at 1: a watermark held below ids that earlier tests deleted would be a Last-Event-ID
# older than the oldest event kept, and get a reset instead of the replay tested here.
pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)


def test_api_stream_live_then_resume_with_last_event_id(tenant, daphne, workers, streams) -> None:
    _, raw = keys.issue(tenant)
    auth = {"X-API-Key": raw}

    live = streams(daphne.port, "/api/sse/events", auth)
    assert live.status == 200
    assert live.headers["content-type"].startswith("text/event-stream")
    assert live.headers["cache-control"] == "no-cache"
    assert live.headers["x-accel-buffering"] == "no"
    live.wait(lambda s: any(m.id is not None for m in s.snapshot()), what="the opening id:")

    first = enqueue("noop", tenant=tenant)
    run_burst(workers)
    live.wait(lambda s: events_of(s, {first.pk}) >= {(first.pk, e) for e in LIFECYCLE}, what="the first task's events")
    tasks_messages = live.events("tasks")
    assert all(m.id is not None for m in tasks_messages), "every message carries an id:"
    ids = [m.id for m in live.snapshot() if m.id is not None]
    assert ids == sorted(ids), "the watermark never goes back"
    seen = {seq for seq, _, _ in live.changes()}
    last = live.last_id()
    live.close()

    # Missed while disconnected: five tasks, each created, started and completed.
    missed = [enqueue("noop", tenant=tenant) for _ in range(5)]
    run_burst(workers)
    assert Task.objects.filter(status=Status.COMPLETED).count() == 6
    missed_ids = {t.pk for t in missed}
    wanted = {(pk, e) for pk in missed_ids for e in LIFECYCLE}
    in_db = set(Event.objects.filter(tenant=tenant, id__gt=last).values_list("id", flat=True))

    for how in ("header", "query"):
        if how == "header":
            again = streams(daphne.port, "/api/sse/events", {**auth, "Last-Event-ID": str(last)})
        else:
            again = streams(daphne.port, f"/api/sse/events?last_event_id={last}", auth)
        assert again.status == 200
        again.wait(lambda s: events_of(s, missed_ids) >= wanted, what=f"the missed events (Last-Event-ID by {how})")
        received = {seq for seq, _, _ in again.changes()}
        assert received >= in_db, f"a gap: rows {sorted(in_db - received)} were not replayed"
        assert all(seq > last or seq in seen for seq in received), "only what was missed (or a known seq)"
        assert all(seq in seen for seq, _, c in again.changes() if c["task"] == first.pk), \
            "the first task's events only as duplicates of a known seq"
        counted = [(c["task"], c["event"]) for seq, _, c in again.changes() if seq not in seen]
        assert sorted(counted) == sorted(wanted), "each missed change exactly once"
        again.close()


def test_api_stream_auth_scope_and_heartbeat(tenant, other_tenant, daphne, streams) -> None:
    key_a, raw_a = keys.issue(tenant)
    _, raw_b = keys.issue(other_tenant)
    _, raw_op = keys.issue(other_tenant, operator=True)

    status, headers, body = request(daphne.port, "/api/sse/events")
    assert status == 401 and headers["content-type"] == "application/problem+json"
    assert json.loads(body) == {"type": "https://job-engine.invalid/problems/unauthorized", "title": "Unauthorized",
                                "status": 401, "detail": "An API key is required."}
    status, _, body = request(daphne.port, "/api/sse/events", {"X-API-Key": "jek_nope_nope"})
    assert status == 401 and json.loads(body)["status"] == 401
    status, _, body = request(daphne.port, "/api/sse/events?all=true", {"X-API-Key": raw_a})
    assert status == 403
    assert json.loads(body)["type"].endswith("/operator-only")

    a = streams(daphne.port, "/api/sse/events", {"X-API-Key": raw_a})
    b = streams(daphne.port, "/api/sse/events", {"Authorization": f"Bearer {raw_b}"})
    op = streams(daphne.port, "/api/sse/events?all=true", {"X-API-Key": raw_op})
    assert a.status == b.status == op.status == 200
    for s in (a, b, op):
        s.wait(lambda s: any(m.id is not None for m in s.snapshot()), what="the opening id:")

    mine = enqueue("noop", tenant=tenant)
    theirs = enqueue("noop", tenant=other_tenant)  # committed after tenant A's: B sees it only later
    b.wait(lambda s: events_of(s, {theirs.pk}), what="tenant B's own event")
    a.wait(lambda s: events_of(s, {mine.pk}), what="tenant A's event")
    op.wait(lambda s: events_of(s, {mine.pk, theirs.pk}) == {(mine.pk, "task.created"), (theirs.pk, "task.created")},
            what="both tenants' events on the operator's all=true stream")
    assert {t for _, t, _ in b.changes()} == {"globex"}, "tenant B never sees tenant A's events"
    assert {t for _, t, _ in a.changes()} == {"acme"}

    b.wait(lambda s: any("heartbeat" in m.comments for m in s.snapshot()), timeout=30, what="a heartbeat comment")
    # The watermark advances on a heartbeat even when the rows were another tenant's.
    b.wait(lambda s: s.last_id() >= max(Event.objects.values_list("id", flat=True)), timeout=30,
           what="the watermark to pass the other tenant's rows")

    # A revoked key's open stream ends (checked on a heartbeat); reconnecting gets a 401.
    keys.revoke(key_a)
    a.wait(lambda s: s.ended, timeout=30, what="the revoked key's stream to end")
    assert request(daphne.port, "/api/sse/events", {"X-API-Key": raw_a})[0] == 401

    for s in (a, b, op):
        s.close()
    wait_for(lambda: "stopped polling" in daphne.log(), timeout=30, what="the hub to stop once every client left")
