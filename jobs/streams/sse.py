"""Server-Sent Events over Channels: message framing, the heartbeat, and the streaming consumer base.

The streams themselves live with their audience: the API's in ``jobs/api/stream.py``, the
console's in ``dashboard/stream.py``. Both send a ``: heartbeat`` comment every
``SSE_HEARTBEAT_SECONDS`` and stop — unsubscribing from the hub — when the client goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from typing import Any
from urllib.parse import parse_qs

from channels.generic.http import AsyncHttpConsumer

from ..problems import CONTENT_TYPE as PROBLEM_CONTENT_TYPE
from ..problems import problem
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


class StreamConsumer(AsyncHttpConsumer):
    """An open-ended response: ``stream()`` runs as a task until it returns or the client leaves.

    ``AsyncHttpConsumer.handle`` would block the consumer's message loop, so ``http.disconnect``
    would never be read; the stream therefore runs beside the loop and is cancelled by it.
    Before ``start()``, ``stream()`` may turn the request down with ``refuse()``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stream: asyncio.Task[None] | None = None
        self._started = False

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
            if self._started:
                await self.send_body(b"", more_body=False)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("event stream failed")
            if self._started:
                with contextlib.suppress(Exception):
                    await self.send_body(b"", more_body=False)
            else:
                await self.refuse(500, "An unexpected error occurred; it has been logged.")

    async def refuse(self, status: int, detail: str, *, kind: str = "",
                     headers: dict[str, str] | None = None) -> None:
        """Answer with a problem document instead of the stream."""
        body = json.dumps(problem(status, detail, kind=kind)).encode()
        raw_headers = [(b"content-type", PROBLEM_CONTENT_TYPE.encode())]
        raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        await self.send_response(status, body, headers=raw_headers)

    async def start(self, first: bytes = b"") -> None:
        await self.send_headers(status=200, headers=STREAM_HEADERS)
        self._started = True
        # The first body flushes the headers: the client sees the 200 at once.
        retry = f"retry: {streams_conf().SSE_RETRY_MS}\n".encode()
        await self.send_body(retry + (first or b"\n"), more_body=True)

    async def write(self, data: bytes) -> None:
        await self.send_body(data, more_body=True)

    async def stream(self) -> None:
        raise NotImplementedError
