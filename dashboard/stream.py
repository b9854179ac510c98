"""``GET /console/events``: the overview's live panels over Server-Sent Events, at a bounded rate.

Coalesced snapshots — ``health``, ``counters``, ``feed``, ``workers``, ``chart``, each the HTML fragment
``dashboard.live`` renders — at most every ``SSE_*_SECONDS`` (``jobs.streams.conf``), whatever
the task rate. When the hub gives event ids up, a ``reset`` (JSON, as the API's) is followed at
once by fresh snapshots; the feed, the only panel built from changes, is reloaded by the
console's script. Same permission as the console's task pages (``access.VIEW_TASKS``).

``?panels=queues`` (the Queues page) streams only ``queues``, the table of ``dashboard.queuepanel``:
when tasks changed at most every ``SSE_COUNTERS_SECONDS``, else every ``SSE_WORKERS_SECONDS`` (a
pause that parks nothing yet writes no task event). ``?panels=limits`` (the Limits page) streams
only ``limits`` (``dashboard.limitspanel``) the same way.

Every ``SSE_REVERIFY_SECONDS`` the login is checked again from the session store (logged out,
expired, password changed, user deactivated, no longer staff or allowed to view tasks: the
stream ends, and its reconnect is refused).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from functools import partial
from importlib import import_module
from types import SimpleNamespace
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib import auth
from django.urls import reverse
from django.utils.html import escape

from jobs import clock
from jobs.conf import conf
from jobs.models import WorkerProcess
from jobs.streams.conf import streams_conf
from jobs.streams.hub import CoalescingSubscription, get_hub
from jobs.streams.reset import Reset
from jobs.streams.sse import HEARTBEAT, StreamConsumer, message, query_params

from . import access, healthpanel, limitspanel, live, queuepanel, workerspanel

logger = logging.getLogger(__name__)

#: Snapshots without arguments, shared by every console stream of this process: name → (when, html).
_shared: dict[str, tuple[float, str]] = {}


def _alive_processes() -> dict[str, int]:
    return {"processes": WorkerProcess.objects.alive(clock.now(), conf().LEASE_SECONDS).count()}


class Panels:
    """Renders ``dashboard.live``'s fragments in a thread; a small JSON payload where one fails."""

    def __init__(self, shared_seconds: float) -> None:
        self.shared_seconds = shared_seconds
        self.failed: set[str] = set()

    async def render(self, function: Callable[..., str], fallback: Callable[[], Any], *args: Any) -> str:
        """``function(*args)``, or ``fallback()`` (its JSON, HTML-escaped: htmx swaps it in) if it raises.

        Snapshots without arguments are shared by every console stream of this process for
        ``shared_seconds``, so N operators cost the database what one does.
        """
        name = function.__name__
        if not args:
            at, html = _shared.get(name, (-1e9, ""))
            if time.monotonic() - at < self.shared_seconds:
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
        value = await database_sync_to_async(fallback, thread_sensitive=False)()
        return escape(json.dumps(value, default=str))


def _may_watch(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False) and getattr(user, "is_staff", False)
                and access.can_any(user, access.VIEW_TASKS))


def _logged_in_user(session_key: str | None) -> Any:
    """The session's user as a new request would see it (Django's own check: expiry, password hash, active)."""
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return auth.get_user(SimpleNamespace(session=store))  # type: ignore[arg-type]  # only .session is read


class ConsoleEventStream(StreamConsumer):
    """Coalesced snapshots for the staff console, at a bounded rate."""

    why_ended = "the console login ended or lost the permission to view tasks"

    async def still_allowed(self) -> bool:
        session = self.scope.get("session")
        key = getattr(session, "session_key", None)
        user = await database_sync_to_async(_logged_in_user, thread_sensitive=False)(key)
        return user.pk == self.scope["user"].pk and await database_sync_to_async(
            _may_watch, thread_sensitive=False)(user)

    async def stream(self) -> None:
        user = self.scope.get("user")
        if user is None or not getattr(user, "is_authenticated", False) or not getattr(user, "is_staff", False):
            await self.refuse(403, "The console is for logged-in staff.", kind="staff-only")
            return
        if not await database_sync_to_async(access.can_any, thread_sensitive=False)(user, access.VIEW_TASKS):
            await self.refuse(403, "Viewing tasks needs the jobs.view_task permission.", kind="forbidden")
            return
        panels_param = query_params(self.scope).get("panels")
        if panels_param == "queues":
            can_act = await database_sync_to_async(user.has_perm, thread_sensitive=False)(access.CHANGE_TASKS)
            await self.stream_table(queuepanel.render_queues if can_act else queuepanel.render_queues_readonly)
            return
        if panels_param == "limits":
            await self.stream_table(limitspanel.render_limits, event="limits")
            return
        c = streams_conf()
        hub = get_hub()
        sub = CoalescingSubscription(keep=c.SSE_FEED_SIZE)
        panels = Panels(c.SSE_SHARED_SECONDS)
        await hub.subscribe(sub)
        try:
            await self.start()
            now = time.monotonic()
            counters_sent = feed_sent = workers_sent = chart_sent = -1e9
            next_beat = now + c.heartbeat_seconds
            while True:
                now = time.monotonic()
                out = []
                if sub.reset is not None:
                    reset = Reset(sub.reset, hub.low)
                    sub.reset = None
                    sub.recent.clear()  # the reloaded feed has them
                    out.append(message("reset", reset.data(reverse("dashboard:live_feed"))))
                    counters_sent = feed_sent = workers_sent = chart_sent = -1e9  # every snapshot, now
                if now - counters_sent >= c.SSE_COUNTERS_SECONDS and (
                        sub.dirty or now - counters_sent >= c.SSE_COUNTERS_IDLE_SECONDS):
                    sub.dirty = False
                    counters_sent = now
                    counts: partial[dict[str, Any]] = partial(dict, seq=hub.low, changes=dict(sub.counts))
                    out.append(message("counters", await panels.render(live.render_counters, counts)))
                if now - feed_sent >= c.SSE_FEED_SECONDS and sub.recent:
                    feed_sent = now
                    changes = sub.take_recent()
                    html = await panels.render(live.render_feed, partial(dict, changes=changes), changes)
                    out.append(message("feed", html))
                if now - workers_sent >= c.SSE_WORKERS_SECONDS:
                    workers_sent = now
                    # The verdict moves with heartbeats as much as with tasks: the workers' pace.
                    out.append(message("health", await panels.render(healthpanel.render_health, _alive_processes)))
                    out.append(message("workers", await panels.render(workerspanel.render_workers, _alive_processes)))
                if now - chart_sent >= c.SSE_CHART_SECONDS:
                    chart_sent = now
                    html = await panels.render(live.render_chart, partial(dict, seq=hub.low))
                    out.append(message("chart", html))
                if now >= next_beat:
                    out.append(HEARTBEAT)
                    next_beat = now + c.heartbeat_seconds
                if out:
                    await self.write(b"".join(out))
                if not await self.checkpoint():
                    return
                # Wake for the next thing due (at most every quarter second, never once per task).
                due = [next_beat, workers_sent + c.SSE_WORKERS_SECONDS, chart_sent + c.SSE_CHART_SECONDS]
                if sub.dirty:
                    due.append(counters_sent + c.SSE_COUNTERS_SECONDS)
                else:
                    due.append(counters_sent + c.SSE_COUNTERS_IDLE_SECONDS)
                if sub.recent:
                    due.append(feed_sent + c.SSE_FEED_SECONDS)
                await asyncio.sleep(min(max(0.05, min(due) - time.monotonic()), 0.25))
        finally:
            hub.unsubscribe(sub)

    async def stream_table(self, render: Callable[[], str], event: str = "queues") -> None:
        """A one-table page's stream (Queues, Limits): the table as ``event``, a heartbeat, and a
        fresh table after a ``reset``."""
        c = streams_conf()
        hub = get_hub()
        sub = CoalescingSubscription(keep=1)
        panels = Panels(c.SSE_SHARED_SECONDS)
        await hub.subscribe(sub)
        try:
            await self.start()
            sent = -1e9
            next_beat = time.monotonic() + c.heartbeat_seconds
            while True:
                now = time.monotonic()
                out = []
                if sub.reset is not None:
                    sub.reset = None
                    sent = -1e9  # the table is a snapshot: sending it afresh is the whole recovery
                since = now - sent
                if since >= c.SSE_WORKERS_SECONDS or (sub.dirty and since >= c.SSE_COUNTERS_SECONDS):
                    sub.dirty = False
                    sub.recent.clear()
                    sent = now
                    out.append(message(event, await panels.render(render, partial(dict, seq=hub.low))))
                if now >= next_beat:
                    out.append(HEARTBEAT)
                    next_beat = now + c.heartbeat_seconds
                if out:
                    await self.write(b"".join(out))
                if not await self.checkpoint():
                    return
                await asyncio.sleep(0.25)
        finally:
            hub.unsubscribe(sub)
