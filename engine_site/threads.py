"""Django's views, served inside the ASGI app as WSGI on a fixed set of long-lived threads.

Measured on this project's 2-core machine (single ``POST /api/tasks``, 16 clients, server CPU
per request, same run): Django's own ASGI handler costs ~16 ms, ~15 ms once its sync code is
kept on persistent threads, where the same views as WSGI cost ~9-10 ms. The ASGI handler makes
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

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from a2wsgi import WSGIMiddleware
from django.core.wsgi import get_wsgi_application

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]

_in_flight = 0


def in_flight() -> int:
    """Requests being served by Django in this process right now (the streams excluded)."""
    return _in_flight


class DjangoOnThreads:
    """ASGI app: Django's WSGI handler run on ``threads`` persistent threads, its requests counted."""

    def __init__(self, threads: int) -> None:
        if threads < 1:
            raise ValueError("Django needs at least one thread to run on")
        self.threads = threads
        self.wsgi = WSGIMiddleware(get_wsgi_application(), workers=threads)  # type: ignore[arg-type]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        global _in_flight
        _in_flight += 1  # the event loop's thread only: no lock needed
        try:
            await self.wsgi(scope, receive, send)  # type: ignore[arg-type]
        finally:
            _in_flight -= 1
