"""The event stream's state without a server: SSE parsing, the watermark, de-duplication by seq, reset."""

import json

from jobengine_client.events import EventStream


def feed(stream: EventStream, text: str) -> list:
    return [e for line in text.split("\n") if (e := stream.feed(line)) is not None]


def tasks(seq: int, wm: int | None = None) -> str:
    data = {"seq": seq, "tenant": "acme", "changes": [{"event": "task.created", "task": seq, "type": "noop",
                                                      "status": "pending", "attempt": 0}]}
    return f"id: {wm or seq}\nevent: tasks\ndata: {json.dumps(data)}\n\n"


def test_messages_comments_and_the_watermark() -> None:
    s = EventStream(None, all=False, max_reconnects=None)
    assert feed(s, "retry: 2000\nid: 40\n\n: heartbeat\n\n") == []
    assert s.last_event_id == 40 and s.retry_ms == 2000
    assert s.request_args()["headers"]["Last-Event-ID"] == "40"
    [event] = feed(s, tasks(41))
    assert event.event == "tasks" and event.id == 41 and event.seq == 41
    assert event.changes[0]["task"] == 41 and not event.is_reset
    assert s.last_event_id == 41


def test_a_change_replayed_after_a_reconnect_is_handed_over_once() -> None:
    s = EventStream(10, all=True, max_reconnects=None)
    assert s.request_args() == {"headers": {"Accept": "text/event-stream", "Cache-Control": "no-cache",
                                            "Last-Event-ID": "10"}, "params": {"all": "true"}}
    filtered = EventStream(None, all=False, max_reconnects=0, filters={"type": ["a", "b"], "task": None})
    assert filtered.request_args()["params"] == {"type": "a,b"}, "filters are query parameters (None: not sent)"
    assert [e.seq for e in feed(s, tasks(11) + tasks(13))] == [11, 13]
    s.connected()
    # A late commit (12) arrives with the replay of 13: 13 is not handed over twice.
    assert [e.seq for e in feed(s, tasks(12, 13) + tasks(13) + tasks(14))] == [12, 14]


def test_a_message_cut_by_a_dropped_connection_is_not_delivered_half() -> None:
    s = EventStream(None, all=False, max_reconnects=None)
    assert feed(s, "id: 5\nevent: tasks\ndata: {\"seq\": 5") == []
    s.connected()
    assert [e.seq for e in feed(s, tasks(5))] == [5]


def test_reset_is_handed_over_and_starts_de_duplication_afresh() -> None:
    s = EventStream(None, all=False, max_reconnects=None)
    feed(s, tasks(7))
    reset = 'id: 90\nevent: reset\ndata: {"reason": "too_far_behind", "resync": "/api/tasks"}\n\n'
    [event] = feed(s, reset)
    assert event.is_reset and event.data["resync"] == "/api/tasks" and event.changes == []
    assert s.last_event_id == 90
    assert [e.seq for e in feed(s, tasks(91))] == [91]
