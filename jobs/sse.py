"""Live event streams over Server-Sent Events (Channels HTTP consumers, served by daphne).

* ``GET /api/sse/events`` (``ApiEventStream``): an API key's task changes, one SSE message per
  outbox row — ``id: <watermark>`` / ``event: tasks`` / ``data: {"seq", "tenant", "changes"}`` —
  resumable with ``Last-Event-ID`` (header, or ``?last_event_id=`` for EventSource's first
  connect). Operator keys may add ``?all=true``.
* ``GET /console/events`` (``ConsoleEventStream``): the staff console's coalesced snapshots
  (``counters``, ``feed``, ``workers``, ``chart``) at a bounded rate, whatever the task rate.

Both send a ``: heartbeat`` comment every ``SSE_HEARTBEAT_SECONDS`` and stop — unsubscribing
from the hub — when the client goes away. Rows come from the process's ``EventHub``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import re
import time
from collections.abc import Callable
from functools import partial
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.http import AsyncHttpConsumer
from django.utils import timezone

from tenants import keys

from .api.errors import CONTENT_TYPE as PROBLEM_CONTENT_TYPE
from .api.errors import problem
from .conf import conf
from .eventhub import CoalescingSubscription, Feed, get_hub

logger = logging.getLogger(__name__)

TRUE = {"1", "true", "yes"}
FALSE = {"0", "false", "no", ""}
STREAM_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
#: EventSource's reconnect delay, milliseconds (sent once per connection).
RETRY_MS = 2000
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def setting(name: str, default: float) -> float:
    """A stream tunable from jobs/conf.py (``JOBS[name]`` or ``JOBS_<name>`` in the environment)."""
    return float(getattr(conf(), name, default))


def heartbeat_seconds() -> float:
    return max(0.05, setting("SSE_HEARTBEAT_SECONDS", 15.0))


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


HEARTBEAT = b": heartbeat\n\n"


def _headers(scope: dict[str, Any]) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _query(scope: dict[str, Any]) -> dict[str, str]:
    raw = scope.get("query_string", b"").decode("latin-1")
    return {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}


class HttpError(Exception):
    def __init__(self, status: int, detail: str, *, kind: str = "", headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind
        self.headers = headers or {}


class StreamConsumer(AsyncHttpConsumer):
    """An open-ended response: ``stream()`` runs as a task until it returns or the client leaves.

    ``AsyncHttpConsumer.handle`` would block the consumer's message loop, so ``http.disconnect``
    would never be read; the stream therefore runs beside the loop and is cancelled by it.
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
                raise HttpError(405, "Only GET is allowed here.", headers={"Allow": "GET"})
            await self.stream()
            if self._started:
                await self.send_body(b"", more_body=False)
        except asyncio.CancelledError:
            raise
        except HttpError as exc:
            await self.refuse(exc)
        except Exception:
            logger.exception("event stream failed")
            if self._started:
                with contextlib.suppress(Exception):
                    await self.send_body(b"", more_body=False)
            else:
                await self.refuse(HttpError(500, "An unexpected error occurred; it has been logged."))

    async def refuse(self, exc: HttpError) -> None:
        body = json.dumps(problem(exc.status, exc.detail, kind=exc.kind)).encode()
        headers = [(b"content-type", PROBLEM_CONTENT_TYPE.encode())]
        headers += [(k.lower().encode(), v.encode()) for k, v in exc.headers.items()]
        await self.send_response(exc.status, body, headers=headers)

    async def start(self, first: bytes = b"") -> None:
        await self.send_headers(status=200, headers=STREAM_HEADERS)
        self._started = True
        # The first body flushes the headers: the client sees the 200 at once.
        await self.send_body(f"retry: {RETRY_MS}\n".encode() + (first or b"\n"), more_body=True)

    async def write(self, data: bytes) -> None:
        await self.send_body(data, more_body=True)

    async def stream(self) -> None:
        raise NotImplementedError


# -- the API stream ----------------------------------------------------------------------------------------


def _raw_key(headers: dict[str, str]) -> str | None:
    if headers.get("x-api-key"):
        return headers["x-api-key"]
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def _verify(raw: str) -> keys.VerifiedKey | None:
    verified = keys.verify(raw)
    if verified is not None:
        keys.touch(verified)
    return verified


class ApiEventStream(StreamConsumer):
    """``GET /api/sse/events``: the key's tenant's task changes (every tenant's with an operator's ``all=true``)."""

    raw_key = ""

    async def authorize(self) -> tuple[int | None, int | None]:
        """Return (tenant id or None for all, Last-Event-ID or None), or raise HttpError."""
        headers, query = _headers(self.scope), _query(self.scope)
        raw = _raw_key(headers)
        unauthorized = {"WWW-Authenticate": 'Bearer realm="api"'}
        if raw is None:
            raise HttpError(401, "An API key is required.", headers=unauthorized)
        key = await database_sync_to_async(_verify, thread_sensitive=False)(raw)
        self.raw_key = raw
        if key is None:
            raise HttpError(401, "Invalid or revoked API key.", headers=unauthorized)
        everything = query.get("all")
        if everything is None or everything.lower() in FALSE:
            tenant_id: int | None = key.tenant_id
        elif everything.lower() not in TRUE:
            raise HttpError(400, "all: must be true or false", kind="validation")
        elif not key.is_operator:
            raise HttpError(403, "Only operator keys may read every tenant (all=true).", kind="operator-only")
        else:
            tenant_id = None
        raw_last = headers.get("last-event-id") or query.get("last_event_id") or ""
        last: int | None = None
        if raw_last.strip():
            try:
                last = int(raw_last.strip())
            except ValueError:
                raise HttpError(400, "Last-Event-ID: must be an event id (an integer)", kind="validation") from None
            if last < 0:
                raise HttpError(400, "Last-Event-ID: must not be negative", kind="validation")
        return tenant_id, last

    async def stream(self) -> None:
        tenant_id, last = await self.authorize()
        feed = Feed(get_hub(), tenant_id, last)
        try:
            await feed.open()
            sent = feed.position
            await self.start(f"id: {sent}\n\n".encode())
            beat = heartbeat_seconds()
            next_beat = time.monotonic() + beat
            reverify = setting("SSE_REVERIFY_SECONDS", 60.0)
            next_check = time.monotonic() + reverify
            while True:
                items = await feed.get(timeout=max(0.0, next_beat - time.monotonic()))
                if items:
                    await self.write(b"".join(message("tasks", row.data, id=at) for at, row in items))
                    sent = items[-1][0]
                if time.monotonic() >= next_beat:
                    if time.monotonic() >= next_check:
                        next_check = time.monotonic() + reverify
                        if await database_sync_to_async(keys.verify, thread_sensitive=False)(self.raw_key) is None:
                            logger.info("event stream: the API key was revoked; closing the stream")
                            return  # the reconnect gets its 401
                    out = HEARTBEAT
                    position = feed.advance()
                    if position > sent:
                        # Rows of other tenants (or given-up ids) moved the watermark: resume from there.
                        out += f"id: {position}\n\n".encode()
                        sent = position
                    await self.write(out)
                    next_beat = time.monotonic() + beat
        finally:
            feed.close()


# -- the console stream ------------------------------------------------------------------------------------

COUNTERS_EVERY = 1.0      # at most this often, when something changed…
COUNTERS_AT_LEAST = 5.0   # …and at least this often regardless
FEED_EVERY = 1.0
WORKERS_EVERY = 2.0
CHART_EVERY = 10.0
FEED_SIZE = 20


def _json(value: Any) -> str:
    return json.dumps(value, default=str)


def _fallback_workers() -> str:
    from .models import WorkerProcess

    alive = WorkerProcess.objects.alive(timezone.now(), conf().LEASE_SECONDS)
    return json.dumps({"processes": alive.count()})


#: How long a rendered console snapshot is reused across this process's streams, seconds.
SHARED_SECONDS = 0.5
_shared: dict[str, tuple[float, str]] = {}


class Renderers:
    """``dashboard.live``'s HTML fragments, or a small JSON payload where it (or a function) is missing."""

    NAMES = ("render_counters", "render_workers", "render_feed", "render_chart")

    def __init__(self) -> None:
        self.functions: dict[str, Callable[..., str]] = {}
        self.failed: set[str] = set()
        try:
            module: Any = importlib.import_module("dashboard.live")
        except ModuleNotFoundError as exc:
            if exc.name not in {"dashboard.live", "dashboard"}:
                logger.exception("dashboard.live failed to import; the console stream sends JSON")
            return
        except Exception:
            logger.exception("dashboard.live failed to import; the console stream sends JSON")
            return
        for name in self.NAMES:
            function = getattr(module, name, None)
            if callable(function):
                self.functions[name] = function

    async def render(self, name: str, fallback: Callable[[], str], *args: Any) -> str:
        """Call ``dashboard.live.<name>(*args)`` in a thread; ``fallback()`` (also in a thread) without it.

        Snapshots without arguments are shared by every console stream of this process for
        ``SHARED_SECONDS``, so N operators cost the database what one does.
        """
        function = self.functions.get(name)
        if function is not None:
            if not args:
                at, html = _shared.get(name, (-1e9, ""))
                if time.monotonic() - at < SHARED_SECONDS:
                    return html
            try:
                html = str(await database_sync_to_async(function, thread_sensitive=False)(*args))
                if not args:
                    _shared[name] = (time.monotonic(), html)
                return html
            except Exception as exc:
                if name in self.failed:
                    logger.debug("dashboard.live.%s failed again: %r", name, exc)
                else:  # the traceback once per stream, not once a second
                    self.failed.add(name)
                    logger.exception("dashboard.live.%s failed; sending the JSON fallback", name)
        return await database_sync_to_async(fallback, thread_sensitive=False)()


class ConsoleEventStream(StreamConsumer):
    """``GET /console/events``: coalesced snapshots for the staff console, at a bounded rate."""

    async def stream(self) -> None:
        user = self.scope.get("user")
        if user is None or not getattr(user, "is_authenticated", False) or not getattr(user, "is_staff", False):
            raise HttpError(403, "The console is for logged-in staff.", kind="staff-only")
        # The same permission the console's task pages need.
        allowed = await database_sync_to_async(user.has_perms, thread_sensitive=False)(["jobs.view_task"])
        if not allowed and not await database_sync_to_async(user.has_perm, thread_sensitive=False)("jobs.change_task"):
            raise HttpError(403, "Viewing tasks needs the jobs.view_task permission.", kind="forbidden")
        hub = get_hub()
        sub = CoalescingSubscription(keep=FEED_SIZE)
        renderers = Renderers()
        await hub.subscribe(sub)
        try:
            await self.start()
            beat = heartbeat_seconds()
            now = time.monotonic()
            counters_sent = feed_sent = workers_sent = chart_sent = -1e9
            next_beat = now + beat
            while True:
                now = time.monotonic()
                out = []
                if now - counters_sent >= COUNTERS_EVERY and (sub.dirty or now - counters_sent >= COUNTERS_AT_LEAST):
                    sub.dirty = False
                    counters_sent = now
                    html = await renderers.render(
                        "render_counters", partial(_json, {"seq": hub.low, "changes": dict(sub.counts)}))
                    out.append(message("counters", html))
                if now - feed_sent >= FEED_EVERY and sub.recent:
                    feed_sent = now
                    changes = sub.take_recent()
                    html = await renderers.render("render_feed", partial(_json, {"changes": changes}), changes)
                    out.append(message("feed", html))
                if now - workers_sent >= WORKERS_EVERY:
                    workers_sent = now
                    html = await renderers.render("render_workers", _fallback_workers)
                    out.append(message("workers", html))
                if now - chart_sent >= CHART_EVERY:
                    chart_sent = now
                    html = await renderers.render("render_chart", partial(_json, {"seq": hub.low}))
                    out.append(message("chart", html))
                if now >= next_beat:
                    out.append(HEARTBEAT)
                    next_beat = now + beat
                if out:
                    await self.write(b"".join(out))
                # Wake for the next thing due (at most every quarter second, never once per task).
                due = [next_beat, workers_sent + WORKERS_EVERY, chart_sent + CHART_EVERY]
                if sub.dirty:
                    due.append(counters_sent + COUNTERS_EVERY)
                else:
                    due.append(counters_sent + COUNTERS_AT_LEAST)
                if sub.recent:
                    due.append(feed_sent + FEED_EVERY)
                await asyncio.sleep(min(max(0.05, min(due) - time.monotonic()), 0.25))
        finally:
            hub.unsubscribe(sub)
