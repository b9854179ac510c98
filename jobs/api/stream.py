"""``GET /api/sse/events``: an API key's task changes as Server-Sent Events (a Channels consumer).

One SSE message per outbox row — ``id: <watermark>`` / ``event: tasks`` / ``data: {"seq",
"tenant", "changes"}`` — resumable with ``Last-Event-ID`` (header, or ``?last_event_id=`` for
EventSource's first connect). Operator keys may add ``?all=true``. Where the stream cannot
vouch that nothing was skipped it sends ``event: reset`` (``jobs.streams.reset``) and carries
on live. The key is checked as DRF checks it (``tenants.keys.key_from_headers``), ``all`` as
every API view reads it (``scope``), and refusals are the API's problem documents.
"""

from __future__ import annotations

import logging
import time

from channels.db import database_sync_to_async
from django.urls import reverse

from tenants import keys

from ..streams.conf import streams_conf
from ..streams.feed import Feed
from ..streams.hub import get_hub
from ..streams.reset import Reset
from ..streams.sse import HEARTBEAT, StreamConsumer, message, query_params, request_headers
from . import scope
from .errors import Problem

logger = logging.getLogger(__name__)

UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="api"'}


def last_event_id(headers: dict[str, str], query: dict[str, str]) -> int | None:
    """Where a reconnecting client resumes (``None``: from now)."""
    raw = (headers.get("last-event-id") or query.get("last_event_id") or "").strip()
    if not raw:
        return None
    try:
        last = int(raw)
    except ValueError:
        raise Problem(400, "Last-Event-ID: must be an event id (an integer)", kind="validation") from None
    if last < 0:
        raise Problem(400, "Last-Event-ID: must not be negative", kind="validation")
    return last


class ApiEventStream(StreamConsumer):
    """The key's tenant's task changes (every tenant's with an operator's ``all=true``)."""

    async def authorize(self) -> tuple[str, int | None, int | None]:
        """Return (the raw key, tenant id or None for all, Last-Event-ID or None), or raise ``Problem``."""
        headers, query = request_headers(self.scope), query_params(self.scope)
        try:
            key = await database_sync_to_async(keys.key_from_headers, thread_sensitive=False)(headers)
        except keys.InvalidKey as exc:
            raise Problem(401, str(exc), headers=UNAUTHORIZED) from None
        raw = keys.raw_key(headers)
        if key is None or raw is None:
            raise Problem(401, "An API key is required.", headers=UNAUTHORIZED)
        tenant_id = None if scope.all_tenants(query.get("all"), key) else key.tenant_id
        return raw, tenant_id, last_event_id(headers, query)

    async def stream(self) -> None:
        try:
            raw, tenant_id, last = await self.authorize()
        except Problem as exc:
            await self.refuse(exc.status_code, str(exc.detail), kind=exc.kind, headers=exc.headers)
            return
        conf = streams_conf()
        feed = Feed(get_hub(), tenant_id, last)
        # Where a reset client reloads from: the same scope's task list.
        resync = reverse("api-tasks") + ("?all=true" if tenant_id is None else "")

        def reset_message(reset: Reset | None) -> bytes:
            return b"" if reset is None else message("reset", reset.data(resync), id=reset.id)

        try:
            await feed.open()
            reset = feed.take_reset()  # a Last-Event-ID that cannot be resumed: reset first, then live
            sent = reset.id if reset else feed.position
            await self.start(reset_message(reset) or f"id: {sent}\n\n".encode())
            next_beat = time.monotonic() + conf.heartbeat_seconds
            next_check = time.monotonic() + conf.SSE_REVERIFY_SECONDS
            while True:
                items = await feed.get(timeout=max(0.0, next_beat - time.monotonic()))
                out = b"".join(message("tasks", row.data, id=at) for at, row in items)
                # After the rows before it, in the same write: the client never holds an id past a gap unreset.
                reset = feed.take_reset()
                if out or reset:
                    await self.write(out + reset_message(reset))
                    sent = reset.id if reset else items[-1][0]
                if time.monotonic() >= next_beat:
                    if time.monotonic() >= next_check:
                        next_check = time.monotonic() + conf.SSE_REVERIFY_SECONDS
                        if await database_sync_to_async(keys.verify, thread_sensitive=False)(raw) is None:
                            logger.info("event stream: the API key was revoked; closing the stream")
                            return  # the reconnect gets its 401
                    out = HEARTBEAT
                    position = feed.advance()
                    if position > sent:
                        # Rows of other tenants (or given-up ids) moved the watermark: resume from there.
                        out += f"id: {position}\n\n".encode()
                        sent = position
                    await self.write(out)
                    next_beat = time.monotonic() + conf.heartbeat_seconds
        finally:
            feed.close()
