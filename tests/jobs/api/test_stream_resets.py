"""``/api/sse/events`` never skips silently: late commits arrive, and what cannot be vouched for gets ``reset``.

Against real daphne processes; the give-up is made short (a few seconds) where a test waits for it.
"""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from jobs.conf import conf
from jobs.models import Event
from jobs.services.enqueue import enqueue
from jobs.services.maintenance import prune_side_tables
from tenants import keys
from tests.support.outbox import insert
from tests.support.sse import Stream, events_of

pytestmark = pytest.mark.django_db(transaction=True)


def open_stream(streams, port: int, raw: str, **headers: str) -> Stream:
    s = streams(port, "/api/sse/events", {"X-API-Key": raw, **headers})
    assert s.status == 200
    s.wait(lambda s: any(m.id is not None for m in s.snapshot()), what="the opening id:")
    return s


def test_an_id_given_up_past_the_maximum_resets_the_stream(tenant, start_daphne, streams) -> None:
    daphne = start_daphne(JOBS_SSE_GAP_SECONDS="2")
    _, raw = keys.issue(tenant)
    s = open_stream(streams, daphne.port, raw)
    # Settle first: ids of rows earlier tests deleted are awaited (and given up) like any others.
    [first] = insert(tenant.pk)
    s.wait(lambda s: s.last_id() >= first, timeout=30, what="the watermark to reach this test's first row")
    resets_before = len(s.events("reset"))

    [after_gap] = insert(tenant.pk, first + 2)  # first + 1 never commits: a rolled-back transaction's id
    s.wait(lambda s: len(s.events("reset")) > resets_before, timeout=30, what="the reset")
    messages = [m for m in s.snapshot() if m.event]
    reset = s.events("reset")[-1]
    assert reset.json() == {
        "reason": "gap_timeout", "resync": "/api/tasks",
        "detail": "An event id stayed uncommitted longer than the stream waits; its changes, "
                  "if they commit, will not be streamed.",
    }
    assert reset.id is not None and reset.id >= after_gap, "resuming from the reset's id: is live from there"
    row_at = next(i for i, m in enumerate(messages) if m.event == "tasks" and m.json()["seq"] == after_gap)
    assert row_at < messages.index(reset), "rows before the give-up come first"
    ids = [m.id for m in s.snapshot() if m.id is not None]
    assert ids == sorted(ids), "the watermark never goes back"

    task = enqueue("noop", tenant=tenant)
    s.wait(lambda s: events_of(s, {task.pk}) == {(task.pk, "task.created")}, what="live events after the reset")
    assert len(s.events("reset")) == resets_before + 1, "one reset per give-up"


def test_a_last_event_id_older_than_the_retention_is_reset_first(tenant, daphne, streams) -> None:
    _, raw = keys.issue(tenant)
    old = timezone.now() - timedelta(seconds=conf().EVENT_RETENTION_SECONDS + 60)
    gone = [Event.objects.create(tenant=tenant, changes=[{"event": "old"}], created_at=old).pk for _ in range(5)]
    kept = insert(tenant.pk) + insert(tenant.pk)
    assert prune_side_tables() == 5 and not Event.objects.filter(pk__in=gone).exists()

    s = open_stream(streams, daphne.port, raw, **{"Last-Event-ID": str(gone[1])})
    s.wait(lambda s: s.events("reset"), what="the reset")
    first = next(m for m in s.snapshot() if m.event)
    assert first.event == "reset", "before anything else"
    assert first.json()["reason"] == "retention" and first.json()["resync"] == "/api/tasks"
    assert first.id is not None and first.id >= gone[1]

    task = enqueue("noop", tenant=tenant)
    s.wait(lambda s: events_of(s, {task.pk}), what="live events after the reset")
    assert not {seq for seq, _, _ in s.changes()} & set(kept), "not a replay of what was left"

    # The operator's all-tenant stream resyncs from the all-tenant list.
    _, op = keys.issue(tenant, operator=True)
    s = streams(daphne.port, f"/api/sse/events?all=true&last_event_id={gone[0]}", {"X-API-Key": op})
    s.wait(lambda s: s.events("reset"), what="the operator's reset")
    assert s.events("reset")[0].json()["resync"] == "/api/tasks?all=true"


@pytest.mark.mariadb
def test_an_enqueue_committed_later_than_the_old_give_up_is_streamed_live(tenant, start_daphne, streams) -> None:
    """MariaDB: enqueue() inside a transaction held open 6 s (the old give-up was 5 s) on a second connection."""
    daphne = start_daphne(JOBS_SSE_GAP_SECONDS="60")
    _, raw = keys.issue(tenant)
    s = open_stream(streams, daphne.port, raw)
    held: list[int] = []
    inserted, release = threading.Event(), threading.Event()

    def slow_transaction() -> None:
        try:
            with transaction.atomic():
                held.append(enqueue("noop", tenant=tenant).pk)
                inserted.set()
                release.wait(60)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_transaction)
    thread.start()
    try:
        assert inserted.wait(30), "the slow transaction inserted"
        fast = enqueue("noop", tenant=tenant)  # a higher event id, committed at once
        s.wait(lambda s: events_of(s, {fast.pk}), what="the fast task's event")
        time.sleep(6.0)
        assert not events_of(s, set(held)), "not committed yet"
    finally:
        release.set()
        thread.join(60)
    s.wait(lambda s: events_of(s, set(held)) == {(held[0], "task.created")}, timeout=30,
           what="the late commit, delivered live")
    assert not s.events("reset"), "nothing was given up"
