"""``wait()`` on a task a real worker finishes, and the event stream against the live server: a reconnect
that resumes from the last id (through a relay that cuts the connection), and ``reset``."""

import threading
from typing import Any

import pytest
from django.db.models import Max
from jobengine_client import Client, Event, StreamLost, WaitTimeout

from jobs.models import Event as Outbox
from jobs.services.enqueue import enqueue
from tenants import keys
from tests.sdk.conftest import Live
from tests.sdk.proxy import Relay
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_wait_returns_the_finished_task_or_raises_at_the_timeout(client: Client, live: Live, relay: Relay,
                                                                 workers) -> None:
    workers.start("--processes", "1", "--threads", "2")
    done = client.wait(client.submit("noop")["id"], timeout=120)
    assert done["status"] == "completed" and done["finished_at"] is not None
    failed = client.wait(client.submit("fail", {"permanent": True, "message": "sdk"})["id"], timeout=120)
    assert failed["status"] == "failed" and failed["errors"][0]["message"] == "sdk"

    later = client.submit("noop", delay_seconds=3600)
    with Client(relay.url, live.raw_key) as through, pytest.raises(WaitTimeout) as out:
        through.wait(later["id"], timeout=2.5, poll=0.2)
    assert out.value.task["id"] == later["id"] and out.value.task["status"] == "scheduled"
    assert relay.requests[0].startswith(f"GET /api/tasks/{later['id']}?wait=".encode()), "read as a long poll"


class Consumer:
    """Iterates ``client.events(**options)`` on a thread, keeping what arrives."""

    def __init__(self, client: Client, **options: Any) -> None:
        self.got: list[Event] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(client, options), daemon=True)
        self.thread.start()

    def _run(self, client: Client, options: dict[str, Any]) -> None:
        try:
            for event in client.events(**options):
                self.got.append(event)
        except BaseException as exc:
            self.error = exc

    def changes(self) -> list[tuple[int, str]]:
        return [(c["task"], c["event"]) for e in list(self.got) for c in e.changes]

    def wait_change(self, task_id: int, event: str = "task.created") -> None:
        wait_for(lambda: (task_id, event) in self.changes(), timeout=60, what=f"{event} of task {task_id}")


def mark(tenant) -> int:
    """The newest outbox id now (after a change of this test's own, so there is one)."""
    enqueue("noop", tenant=tenant, delay=3600)
    return int(Outbox.objects.aggregate(m=Max("id"))["m"])


def test_a_dropped_stream_reconnects_from_its_last_id_and_misses_nothing(live: Live, relay: Relay, tenant) -> None:
    start = mark(tenant)
    with Client(relay.url, live.raw_key) as through:
        consumer = Consumer(through, last_event_id=start, max_reconnects=2)
        a = enqueue("noop", tenant=tenant, delay=3600)
        consumer.wait_change(a.pk)

        relay.hold()  # the reconnect waits until b is committed: b happens while the client is away
        relay.drop_all()
        b = enqueue("noop", tenant=tenant, delay=3600)
        relay.release()
        consumer.wait_change(b.pk)

        streams = [r for r in relay.requests if r.startswith(b"GET /api/sse/events")]
        assert len(streams) == 2, streams
        resumed = next(line for line in streams[1].split(b"\r\n") if line.lower().startswith(b"last-event-id:"))
        # (the watermark, not a's seq: it may wait below an id still missing, never below where it began)
        assert int(resumed.split(b":")[1]) >= start
        created = [task for task, event in consumer.changes() if event == "task.created"]
        assert created.count(a.pk) == 1 and created.count(b.pk) == 1, "each change handed over once"
        assert not any(e.is_reset for e in consumer.got)

        relay.close()  # nothing answers any more: after max_reconnects attempts the iterator gives up
        consumer.thread.join(timeout=60)
    assert isinstance(consumer.error, StreamLost)


def test_a_reset_is_handed_over_then_the_stream_is_live(tenant, start_daphne) -> None:
    server = start_daphne(JOBS_SSE_MAX_REPLAY_EVENTS="2")
    _, raw = keys.issue(tenant, name="sdk")
    start = mark(tenant)
    old = [enqueue("noop", tenant=tenant, delay=3600).pk for _ in range(4)]
    with Client(server.url, raw) as client:
        consumer = Consumer(client, last_event_id=start, max_reconnects=0)
        wait_for(lambda: consumer.got, timeout=60, what="the first event")
        first = consumer.got[0]
        assert first.is_reset and first.data["reason"] == "too_far_behind", first
        assert first.data["resync"] == "/api/tasks"
        new = enqueue("noop", tenant=tenant, delay=3600)
        consumer.wait_change(new.pk)
        assert not {task for task, _ in consumer.changes()} & set(old), "nothing from before the reset is replayed"
