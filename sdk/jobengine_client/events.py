"""The event stream (``GET /api/sse/events``) without I/O: parsing Server-Sent Events line by line, the
watermark a reconnect resumes from (``Last-Event-ID``), de-duplication by ``seq``, and ``reset``.

The server's ``id:`` is a watermark: every change up to it was sent (or a ``reset`` was). A reconnect sends
the last one seen, so nothing is missed; a change may then come twice, and is handed over once. A
``reset`` is handed over as it is — the caller reloads what it shows (``event.data["resync"]``) — and the
stream carries on live from the reset's id.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

import httpx

from ._core import RetryPolicy, query
from .errors import StreamLost, error_for
from .models import Event

PATH = "/api/sse/events"

#: Seqs remembered for de-duplication: far more than a reconnect replays (the server replays at most 1,000
#: event ids before it answers ``reset`` instead).
SEEN = 10_000


class EventStream:
    """The state of one logical stream across its connections."""

    def __init__(self, last_event_id: int | None, all: bool, max_reconnects: int | None,
                 filters: Mapping[str, Any] | None = None) -> None:
        self.last_event_id = last_event_id
        self.params = query({"all": all or None, **(filters or {})})
        self.max_reconnects = max_reconnects
        self.failures = 0  # consecutive connections that delivered nothing
        self.retry_ms: int | None = None  # the server's ``retry:``, a reconnect's minimum pause
        self._seen: deque[int] = deque(maxlen=SEEN)
        self._seen_set: set[int] = set()
        self._id: str | None = None
        self._event: str | None = None
        self._data: list[str] = []

    # -- connecting -----------------------------------------------------------------------------------------
    def request_args(self) -> dict[str, Any]:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = str(self.last_event_id)
        return {"headers": headers, "params": self.params}

    def connected(self) -> None:
        """A new connection: a message cut off by the previous one's end is dropped, never half-delivered."""
        self._reset_parser()

    def after_refusal(self, policy: RetryPolicy, response: httpx.Response) -> float:
        """A connection was answered with an error: the pause before the next, or raises its ``ApiError``
        (only a 429 or 503 is tried again: too many open streams, or the server is briefly unavailable)."""
        delay = policy.after_response(0, response)
        if delay is None or self._give_up():
            raise error_for(response)
        return max(delay, self._server_retry())

    def after_drop(self, policy: RetryPolicy, error: Exception | None) -> float:
        """The connection ended (``error``: how, None: closed by the server): the pause before the next, or
        raises once ``max_reconnects`` connections in a row delivered nothing."""
        if self._give_up():
            raise StreamLost(f"the event stream failed {self.failures} times in a row") from error
        return max(policy.backoff_delay(self.failures - 1), self._server_retry())

    def _give_up(self) -> bool:
        self.failures += 1
        return self.max_reconnects is not None and self.failures > self.max_reconnects

    def _server_retry(self) -> float:
        return (self.retry_ms or 0) / 1000

    # -- reading --------------------------------------------------------------------------------------------
    def feed(self, line: str) -> Event | None:
        """One line of the stream (without its line break); an event when ``line`` completes one."""
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment: the heartbeat
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._id = value
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> Event | None:
        raw_id, event, data = self._id, self._event or "message", self._data
        self._reset_parser()
        event_id = int(raw_id) if raw_id is not None and raw_id.strip().isdigit() else None
        if event_id is not None:
            self.last_event_id = event_id  # a bare ``id:`` (the stream's opening) moves the watermark too
        if event_id is not None or data:
            self.failures = 0  # the server is answering: a later drop starts the back-off afresh
        if not data:
            return None
        message = Event.parse(event, "\n".join(data), event_id)
        if message.is_reset:
            self._forget()  # everything before it is to be reloaded, not de-duplicated against
            return message
        seq = message.seq
        if seq is not None:
            if seq in self._seen_set:
                return None
            self._remember(seq)
        return message

    def _remember(self, seq: int) -> None:
        if len(self._seen) == self._seen.maxlen:
            self._seen_set.discard(self._seen[0])
        self._seen.append(seq)
        self._seen_set.add(seq)

    def _forget(self) -> None:
        self._seen.clear()
        self._seen_set.clear()

    def _reset_parser(self) -> None:
        self._id, self._event, self._data = None, None, []
