"""``GET /api/tasks/{id}?wait=SECONDS``: hold the request on the event loop until the task finishes.

Django's views run on a fixed pool of threads (``engine_site.threads``): a view that slept
until a task finished would hold one of them per waiting client. So the ASGI app routes these
requests through ``WaitForTask`` first. It verifies the key as the event stream does, subscribes
to this process's event hub (``jobs.streams.hub``: the one outbox poll every stream shares) for
that task's finishing events, reads the task once, and then waits — no thread, no query — until
a finish of that task arrives or the time is up. Then it hands the request, untouched, to Django,
whose ``TaskDetailView`` reads the task once more and answers exactly as without ``wait``
(with ``Task-Finished: true|false``).

Anything it cannot vouch for (no key, a bad key, a bad ``wait`` or ``all``, a task not in the
key's scope, one already finished) is handed to Django at once, which gives the answer (its
401, 403, 400 or 404, or the finished task). Served this way under ``manage.py serve`` and
``runserver`` (daphne's, the ASGI app); a plain WSGI deployment answers at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async

from tenants import keys

from ..lifecycle import FINISHED
from ..lifecycle import Event as EventName
from ..models import Task
from ..streams.hub import Lost, Subscription, get_hub
from ..streams.reads import EventRow
from ..streams.sse import query_params, request_headers
from . import scope as api_scope
from .errors import Problem

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The longest a request may wait, seconds.
MAX_WAIT = 60
#: The events after which a task is finished (its status is then one of ``lifecycle.FINISHED``).
FINISH_EVENTS = frozenset({EventName.COMPLETED.value, EventName.FAILED.value, EventName.CANCELLED.value})


class BadWait(ValueError):
    """``wait`` is not a number of seconds in (0, ``MAX_WAIT``]."""


def parse_wait(raw: str | None) -> float | None:
    """``wait=`` as seconds (``None``: not asked); ``BadWait`` with the message naming the bound."""
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        raise BadWait(f"must be a number of seconds, more than 0 and at most {MAX_WAIT}") from None
    if not math.isfinite(value) or not 0 < value <= MAX_WAIT:
        raise BadWait(f"must be more than 0 and at most {MAX_WAIT} seconds")
    return value


class TaskFinished(Subscription):
    """Set ``done`` when the hub reads a finishing change of one task (or gives ids up: look again)."""

    def __init__(self, task_id: int, tenant_id: int | None) -> None:
        self.task_id = task_id
        self.tenant_id = tenant_id
        self.done = asyncio.Event()

    def offer(self, row: EventRow, low: int) -> None:
        if self.wants(row) and any(c.get("task") == self.task_id and c.get("event") in FINISH_EVENTS
                                   for c in row.changes):
            self.done.set()

    def lose(self, lost: Lost) -> None:
        self.done.set()  # its finish may be among the ids given up: the caller reads the task again


#: The waits of this process, and whether it is stopping (``answer_now``): a stopping web worker
#: answers every wait with the task as it is, rather than dropping the connection.
_waits: set[TaskFinished] = set()
_stopping = False
_holding = 0


def waiting() -> int:
    """Requests of this process waiting for a task (or about to answer), not yet handed to Django
    (which counts them from then on: ``engine_site.threads.in_flight``)."""
    return _holding


def answer_now() -> None:
    """Stop every wait now: each answers with the task as it is (a web worker stopping gracefully).
    On the event loop's thread."""
    global _stopping
    _stopping = True
    for sub in list(_waits):
        sub.done.set()


def resume() -> None:
    """Wait again after ``answer_now`` (a test's process goes on)."""
    global _stopping
    _stopping = False


def waiting_subscriptions() -> int:
    """The waits subscribed to the hub now."""
    return len(_waits)


def _unfinished(pk: int, tenant_id: int | None) -> bool:
    """Whether the task exists in the scope and has not finished (one primary-key read)."""
    qs = Task.objects.filter(pk=pk) if tenant_id is None else Task.objects.filter(pk=pk, tenant_id=tenant_id)
    return qs.exclude(status__in=FINISHED).exists()


def _scope_of(scope: Scope) -> tuple[float, int | None] | None:
    """(seconds to wait, tenant id or None for all) if the request may wait; None: let Django answer now."""
    query = query_params(scope)
    try:
        seconds = parse_wait(query.get("wait"))
        key = keys.key_from_headers(request_headers(scope))
        if seconds is None or key is None:
            return None
        return seconds, None if api_scope.all_tenants(query.get("all"), key) else key.tenant_id
    except (BadWait, keys.InvalidKey, Problem):
        return None


async def wait_for_task(pk: int, seconds: float, tenant_id: int | None) -> bool:
    """Wait up to ``seconds`` for task ``pk`` (of ``tenant_id``, or any) to finish; True if it did
    (or is not in the scope: there is nothing to wait for)."""
    deadline = time.monotonic() + seconds
    hub = get_hub()
    sub = TaskFinished(pk, tenant_id)
    # Subscribed before the read: a finish that commits after the read is one the hub reads later.
    await hub.subscribe(sub)
    _waits.add(sub)
    try:
        while await database_sync_to_async(_unfinished, thread_sensitive=False)(pk, tenant_id):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or _stopping:
                return False
            sub.done.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sub.done.wait(), remaining)
        return True
    finally:
        _waits.discard(sub)
        hub.unsubscribe(sub)


class WaitForTask:
    """ASGI app in front of Django for ``/api/tasks/<pk>``: a ``?wait=`` GET waits here, then Django answers."""

    def __init__(self, django: App) -> None:
        self.django = django

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or scope.get("method") != "GET" or b"wait=" not in scope.get(
                "query_string", b""):
            await self.django(scope, receive, send)
            return
        global _holding
        _holding += 1
        try:
            first = await self._wait(scope, receive)
        finally:
            # No await from here to Django's own count of the request (its first statement).
            _holding -= 1
        if first is None:
            return  # the client left: nobody to answer
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return first
            return await receive()

        await self.django(scope, replay, send)

    async def _wait(self, scope: Scope, receive: Receive) -> Any:
        """Wait as asked; the request's first message, to replay to Django (None: the client left)."""
        first = await receive()  # the request (a GET's body is empty)
        if first.get("type") == "http.disconnect":
            return None
        pk = int(scope["url_route"]["kwargs"]["pk"])
        asked = await database_sync_to_async(_scope_of, thread_sensitive=False)(scope)
        if asked is None or _stopping:
            return first
        waiting = asyncio.ensure_future(wait_for_task(pk, *asked))
        gone = asyncio.ensure_future(_disconnected(receive))
        try:
            await asyncio.wait({waiting, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for future in (waiting, gone):
                future.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await future
        if gone.done() and not gone.cancelled():
            return None
        if waiting.done() and not waiting.cancelled() and waiting.exception() is not None:
            logger.error("wait for task %d failed; answering now", pk, exc_info=waiting.exception())
        return first


async def _disconnected(receive: Receive) -> None:
    """Return once the client has gone away (any other message of a GET is ignored)."""
    while (await receive()).get("type") != "http.disconnect":
        pass
