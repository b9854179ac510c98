"""``GET /api/sse/events``: an API key's task changes as Server-Sent Events (a Channels consumer).

One SSE message per outbox row — ``id: <watermark>`` / ``event: tasks`` / ``data: {"seq",
"tenant", "changes"}`` — resumable with ``Last-Event-ID`` (header, or ``?last_event_id=`` for
EventSource's first connect). Operator keys may add ``?all=true``; ``?types=``, ``?statuses=``,
``?events=`` and ``?task_ids=`` keep the changes that match (``jobs.streams.filters``). Where the stream cannot
vouch that nothing was skipped it sends ``event: reset`` (``jobs.streams.reset``) and carries
on live. The key is checked as DRF checks it (``tenants.keys.key_from_headers``), ``all`` as
every API view reads it (``scope``), and refusals are the API's problem documents.

Bounded: at most ``SSE_MAX_STREAMS_PER_KEY`` open streams per key and ``SSE_MAX_STREAMS_PER_TENANT``
per tenant across instances (429 beyond: ``jobs.streams.slots``); a Last-Event-ID more than
``SSE_MAX_REPLAY_EVENTS`` behind is reset rather than replayed; the key is re-verified every
``SSE_REVERIFY_SECONDS`` (revoked, tenant deactivated, moved, or no longer an operator's for
``all=true``: the stream ends and the reconnect is refused).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from channels.db import database_sync_to_async
from django.urls import reverse

from tenants import keys

from ..lifecycle import Event as EventName
from ..lifecycle import Status
from ..services.listing import MAX_ID
from ..streams.conf import streams_conf
from ..streams.feed import Feed
from ..streams.filters import ChangeFilter
from ..streams.hub import get_hub
from ..streams.reset import Reset
from ..streams.slots import Scope
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


#: The stream's query parameters (anything else is a 400 naming it: a misspelt filter must not pass as none).
KNOWN_PARAMS = frozenset({"all", "last_event_id", "types", "statuses", "events", "task_ids"})
#: Values one filter may list.
MAX_FILTER_VALUES = 100


def change_filter(query: dict[str, str]) -> ChangeFilter:
    """``?types=``, ``?statuses=``, ``?events=``, ``?task_ids=`` (comma-separated); a 400 lists every bad one."""
    errors = [{"field": name, "message": "unknown query parameter"} for name in sorted(set(query) - KNOWN_PARAMS)]
    values: dict[str, frozenset[Any] | None] = {}
    choices: dict[str, frozenset[str] | None] = {"types": None, "statuses": frozenset(Status.values),
                                                  "events": frozenset(e.value for e in EventName), "task_ids": None}
    for name, allowed in choices.items():
        raw = query.get(name)
        if raw is None:
            values[name] = None
            continue
        items = [v.strip() for v in raw.split(",")]
        if not raw.strip() or any(not v for v in items) or len(items) > MAX_FILTER_VALUES:
            errors.append({"field": name, "message": f"1 to {MAX_FILTER_VALUES} values separated by commas, "
                                                     "none empty"})
        elif name == "task_ids" and not all(v.isascii() and v.isdigit() and 0 < int(v) <= MAX_ID for v in items):
            errors.append({"field": name, "message": "must be task ids (positive integers)"})
        elif allowed is not None and not set(items) <= allowed:
            errors.append({"field": name, "message": f"unknown {', '.join(sorted(set(items) - allowed))}: "
                                                     f"may be {', '.join(sorted(allowed))}"})
        else:
            values[name] = frozenset(int(v) for v in items) if name == "task_ids" else frozenset(items)
    if errors:
        raise Problem(400, "; ".join(f"{e['field']}: {e['message']}" for e in errors), kind="validation",
                      extra={"errors": errors})
    return ChangeFilter(types=values["types"], statuses=values["statuses"], events=values["events"],
                        task_ids=values["task_ids"])


class ApiEventStream(StreamConsumer):
    """The key's tenant's task changes (every tenant's with an operator's ``all=true``)."""

    raw = ""
    key: keys.VerifiedKey | None = None
    tenant_id: int | None = None
    filter = ChangeFilter()

    async def authorize(self) -> tuple[keys.VerifiedKey, int | None]:
        """Note the key and the scope read (tenant id, or None for all); return the key and Last-Event-ID
        (or None). Raises ``Problem``."""
        headers, query = request_headers(self.scope), query_params(self.scope)
        try:
            key = await database_sync_to_async(keys.key_from_headers, thread_sensitive=False)(headers)
        except keys.InactiveTenant as exc:
            raise Problem(403, str(exc)) from None  # a valid key of an inactive tenant, as the REST API answers
        except keys.InvalidKey as exc:
            raise Problem(401, str(exc), headers=UNAUTHORIZED) from None
        raw = keys.raw_key(headers)
        if key is None or raw is None:
            raise Problem(401, "An API key is required.", headers=UNAUTHORIZED)
        self.raw, self.key = raw, key
        self.tenant_id = None if scope.all_tenants(query.get("all"), key) else key.tenant_id
        self.filter = change_filter(query)
        return key, last_event_id(headers, query)

    async def still_allowed(self) -> bool:
        """The key verifies as it did (not revoked, tenant active), for the same tenant, and is still an
        operator's if the stream reads every tenant."""
        now = await database_sync_to_async(keys.verify, thread_sensitive=False)(self.raw)
        if now is None:
            self.why_ended = "the API key was revoked (or its tenant deactivated)"
        elif self.key is not None and now.tenant_id != self.key.tenant_id:
            self.why_ended = "the API key moved to another tenant"
        elif self.tenant_id is None and not now.is_operator:
            self.why_ended = "the API key is no longer an operator's (all=true)"
        else:
            return True
        return False

    async def stream(self) -> None:
        try:
            key, last = await self.authorize()
        except Problem as exc:
            await self.refuse(exc.status_code, str(exc.detail), kind=exc.kind, headers=exc.headers, extra=exc.extra)
            return
        conf = streams_conf()
        if not await self.take_slots((
                Scope("key", key.key_id, conf.SSE_MAX_STREAMS_PER_KEY, key.tenant_id),
                Scope("tenant", key.tenant_id, conf.SSE_MAX_STREAMS_PER_TENANT, key.tenant_id))):
            return
        tenant_id = self.tenant_id
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
            while True:
                wake = min(next_beat, self.next_checkpoint)
                items = await feed.get(timeout=max(0.0, wake - time.monotonic()))
                sending = [(at, data) for at, row in items if (data := self.filter.data(row)) is not None]
                out = b"".join(message("tasks", data, id=at) for at, data in sending)
                # After the rows before it, in the same write: the client never holds an id past a gap unreset.
                reset = feed.take_reset()
                if out or reset:
                    await self.write(out + reset_message(reset))
                    sent = reset.id if reset else sending[-1][0]
                if not await self.checkpoint():
                    return  # the reconnect gets its 401 or 403
                if time.monotonic() >= next_beat:
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
