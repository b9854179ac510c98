"""Django's views, served inside the ASGI app as WSGI on a fixed set of long-lived threads.

Measured on this project's 2-core machine (docs/DEPLOYMENT.md, "The web tier"): Django's own
ASGI handler cost ~16 ms of CPU per ``POST /api/tasks``, ~15 ms once its sync code was kept on
persistent threads, where the same views as WSGI cost ~9-10 ms. The ASGI handler makes
a fresh one-thread executor per request (a new MariaDB connection each time: connections are
per thread, so ``CONN_MAX_AGE`` could not help) and hops between the event loop and a thread
for every sync middleware. Here the whole request runs as WSGI in one hop, on one of
``threads`` threads kept for the life of the process: each keeps its database connection as
``CONN_MAX_AGE`` allows, ``CONN_HEALTH_CHECKS`` replacing one the server dropped. A request
waits when every thread is busy: the bound a threaded WSGI server has, and at most ``threads``
database connections per web process.

The event streams do not come through here: they stay async consumers (``engine_site.asgi``)
and hold no thread. ``in_flight()`` counts the requests in here, so a worker stopping
gracefully (``engine_site.webworker``) knows when the last one has answered.
"""

import asyncio
import contextvars
import functools
import io
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from a2wsgi.wsgi import build_environ
from django.core.wsgi import get_wsgi_application

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]

#: A response up to this size is collected on the thread and sent in one message; a larger one
#: (none of the API's or the console's; a big static file, say) is streamed chunk by chunk.
BUFFERED_BYTES = 1024 * 1024

_in_flight = 0


def in_flight() -> int:
    """Requests being served by Django in this process right now (the streams excluded)."""
    return _in_flight


async def _body(receive: Receive) -> bytes | None:
    """The whole request body (``BodyLimit`` in front bounds it); None when the client left first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


class _Reply:
    """One response: collected by the WSGI app's thread, sent by the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, send: Send) -> None:
        self.loop, self.send = loop, send
        self.start: dict[str, Any] | None = None
        self.chunks: list[bytes] = []
        self.size = 0
        self.streaming = False

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., None]:
        if exc_info is not None and self.streaming:
            raise exc_info[1].with_traceback(exc_info[2])
        self.start = {"type": "http.response.start", "status": int(status.split(" ", 1)[0]),
                      "headers": [(k.lower().encode("latin1"), v.encode("latin1")) for k, v in headers]}
        return self.write

    def write(self, chunk: bytes) -> None:
        if not chunk:
            return
        if self.streaming:
            self._on_loop({"type": "http.response.body", "body": chunk, "more_body": True})
            return
        self.chunks.append(chunk)
        self.size += len(chunk)
        if self.size > BUFFERED_BYTES:
            # Too big to hold: from here on each chunk goes out as it comes (a round trip each).
            self.streaming = True
            self._on_loop(self.start)
            self._on_loop({"type": "http.response.body", "body": b"".join(self.chunks), "more_body": True})
            self.chunks = []

    def _on_loop(self, message: Any) -> None:
        asyncio.run_coroutine_threadsafe(self._send(message), self.loop).result()

    async def _send(self, message: Any) -> None:
        await self.send(message)

    def run(self, app: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> None:
        """On a web thread: the whole WSGI call, ``close()`` included (Django's request_finished runs there)."""
        iterable = app(environ, self.start_response)
        try:
            for chunk in iterable:
                self.write(chunk)
        finally:
            getattr(iterable, "close", lambda: None)()

    async def finish(self) -> None:
        if self.streaming:
            await self.send({"type": "http.response.body", "body": b""})
            return
        if self.start is None:
            raise RuntimeError("the WSGI application returned without starting a response")
        await self.send(self.start)
        await self.send({"type": "http.response.body", "body": b"".join(self.chunks)})


class DjangoOnThreads:
    """ASGI app: Django's WSGI handler run on ``threads`` persistent threads, its requests counted.

    One hand-over to a thread and one back per request: the body is read first, the response
    collected on the thread and sent from the loop (each loop/thread crossing costs a wake-up).
    """

    def __init__(self, threads: int) -> None:
        if threads < 1:
            raise ValueError("Django needs at least one thread to run on")
        self.app = get_wsgi_application()
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="web")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        global _in_flight
        _in_flight += 1  # the event loop's thread only: no lock needed
        try:
            body = await _body(receive)
            if body is None:
                return
            loop = asyncio.get_running_loop()
            reply = _Reply(loop, send)
            environ: dict[str, Any] = build_environ(scope, io.BytesIO(body))  # type: ignore[arg-type,assignment]
            call = functools.partial(contextvars.copy_context().run, reply.run, self.app, environ)
            await loop.run_in_executor(self.pool, call)
            await reply.finish()
        finally:
            _in_flight -= 1
