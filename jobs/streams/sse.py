"""Server-Sent Events over Channels: message framing, the heartbeat, and the streaming consumer base.

The streams themselves live with their audience: the API's in ``jobs/api/stream.py``, the
console's in ``dashboard/stream.py``. Both send a ``: heartbeat`` comment every
``SSE_HEARTBEAT_SECONDS`` and stop — unsubscribing from the hub — when the client goes away.
What bounds a stream lives here, for both: its slots (``slots``: how many a caller holds open,
renewed on the heartbeat, released when it ends), the send buffer (``backpressure``: a client
that stopped reading is dropped past ``SSE_MAX_BUFFER_BYTES``) and the periodic re-check of
its caller (``still_allowed``, every ``SSE_REVERIFY_SECONDS``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.generic.http import AsyncHttpConsumer

from ..problems import CONTENT_TYPE as PROBLEM_CONTENT_TYPE
from ..problems import problem
from . import slots
from .backpressure import SendBuffer
from .conf import streams_conf

logger = logging.getLogger(__name__)

STREAM_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
HEARTBEAT = b": heartbeat\n\n"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def message(event: str | None = None, data: str | None = None, id: int | None = None) -> bytes:
    """One SSE message; multi-line data becomes one ``data:`` line per line."""
    out = []
    if id is not None:
        out.append(f"id: {id}\n")
    if event is not None:
        out.append(f"event: {event}\n")
    if data is not None:
        out.extend(f"data: {line}\n" for line in _LINE_BREAK.split(data))
    out.append("\n")
    return "".join(out).encode()


def request_headers(scope: dict[str, Any]) -> dict[str, str]:
    """The ASGI request's headers, by lower-case name."""
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def query_params(scope: dict[str, Any]) -> dict[str, str]:
    """The ASGI request's query string (the last value of a repeated name)."""
    raw = scope.get("query_string", b"").decode("latin-1")
    return {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}


class Dropped(Exception):
    """The client stopped reading: the stream wrote ``SSE_MAX_BUFFER_BYTES`` it could not send."""


class StreamConsumer(AsyncHttpConsumer):
    """An open-ended response: ``stream()`` runs as a task until it returns or the client leaves.

    ``AsyncHttpConsumer.handle`` would block the consumer's message loop, so ``http.disconnect``
    would never be read; the stream therefore runs beside the loop and is cancelled by it.
    Before ``start()``, ``stream()`` may turn the request down with ``refuse()`` (or
    ``take_slots()``, which refuses with a 429). Its loop calls ``checkpoint()`` and ends when
    that says so.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stream: asyncio.Task[None] | None = None
        self._started = False
        self._lease: slots.Lease | None = None
        self._buffer: SendBuffer | None = None
        self._next_check = self._next_renew = 0.0

    async def http_request(self, message: dict[str, Any]) -> None:
        if message.get("more_body") or self._stream is not None:
            return  # a GET has no body worth reading
        self._stream = asyncio.get_running_loop().create_task(self._serve())

    async def http_disconnect(self, message: dict[str, Any]) -> None:
        await self._stop()
        await super().http_disconnect(message)

    async def _stop(self) -> None:
        task, self._stream = self._stream, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _serve(self) -> None:
        try:
            if self.scope.get("method") != "GET":
                await self.refuse(405, "Only GET is allowed here.", headers={"Allow": "GET"})
                return
            await self.stream()
            self._detach()
            if self._started:
                await self.send_body(b"", more_body=False)
        except asyncio.CancelledError:
            raise
        except Dropped:
            logger.warning("event stream: the client stopped reading (%d bytes held); dropped it",
                           self._buffer.held if self._buffer else 0)
        except Exception:
            logger.exception("event stream failed")
            if self._started:
                with contextlib.suppress(Exception):
                    await self.send_body(b"", more_body=False)
            else:
                await self.refuse(500, "An unexpected error occurred; it has been logged.")
        finally:
            self._detach()
            lease, self._lease = self._lease, None
            if lease is not None:
                await sync_to_async(lease.release, thread_sensitive=False)()

    def _detach(self) -> None:
        if self._buffer is not None:
            self._buffer.detach()

    async def refuse(self, status: int, detail: str, *, kind: str = "", headers: dict[str, str] | None = None,
                     extra: dict[str, Any] | None = None) -> None:
        """Answer with a problem document instead of the stream."""
        body = json.dumps(problem(status, detail, kind=kind, extra=extra)).encode()
        raw_headers = [(b"content-type", PROBLEM_CONTENT_TYPE.encode())]
        raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        await self.send_response(status, body, headers=raw_headers)

    async def take_slots(self, scopes: tuple[slots.Scope, ...]) -> bool:
        """Hold one of each scope's slots for this stream's life; False (after a 429) when one is full."""
        taken = await sync_to_async(slots.acquire, thread_sensitive=False)(scopes, streams_conf().lease_seconds)
        if isinstance(taken, slots.Full):
            scope = taken.scope
            await self.refuse(
                429, f"{scope.name}: at most {scope.limit} event streams may be open at once; close one first.",
                kind="too-many-streams", headers={"Retry-After": str(taken.retry_after)},
                extra={"retry_after": taken.retry_after})
            return False
        self._lease = taken
        return True

    async def start(self, first: bytes = b"") -> None:
        await self.send_headers(status=200, headers=STREAM_HEADERS)
        self._started = True
        self._buffer = SendBuffer.attach(self.base_send)
        now = time.monotonic()
        c = streams_conf()
        self._next_check, self._next_renew = now + c.SSE_REVERIFY_SECONDS, now + c.heartbeat_seconds
        # The first body flushes the headers: the client sees the 200 at once.
        retry = f"retry: {c.SSE_RETRY_MS}\n".encode()
        await self.write(retry + (first or b"\n"))

    async def write(self, data: bytes) -> None:
        """Send ``data``; raise ``Dropped`` (the connection aborted) once the client holds too much unread."""
        was_paused = self._buffer is not None and self._buffer.paused
        await self.send_body(data, more_body=True)
        if self._buffer is not None and self._buffer.wrote(
                len(data), was_paused=was_paused) > streams_conf().SSE_MAX_BUFFER_BYTES:
            self._buffer.abort()
            raise Dropped

    @property
    def next_checkpoint(self) -> float:
        """When ``checkpoint()`` next has work (``time.monotonic()``): a stream's loop wakes by then."""
        return min(self._next_check, self._next_renew if self._lease else self._next_check)

    async def checkpoint(self) -> bool:
        """Renew the stream's slots (each heartbeat) and re-check its caller (``SSE_REVERIFY_SECONDS``).

        False: the caller may no longer read this stream, which must end (its reconnect is refused).
        """
        now, c = time.monotonic(), streams_conf()
        if self._lease is not None and now >= self._next_renew:
            self._next_renew = now + c.heartbeat_seconds
            await sync_to_async(self._lease.renew, thread_sensitive=False)()
        if now >= self._next_check:
            self._next_check = now + c.SSE_REVERIFY_SECONDS
            if not await self.still_allowed():
                logger.info("event stream: %s; closing the stream", self.why_ended)
                return False
        return True

    #: What ``still_allowed`` found, for the log.
    why_ended = "the caller may no longer read it"

    async def still_allowed(self) -> bool:
        """Whether the caller may still read the stream (checked every ``SSE_REVERIFY_SECONDS``)."""
        return True

    async def stream(self) -> None:
        raise NotImplementedError
