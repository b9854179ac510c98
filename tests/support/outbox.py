"""Outbox rows for the hub and feed tests, and waiting for them on the event loop."""

import asyncio
import time
from collections.abc import Callable

from channels.db import database_sync_to_async

from jobs.models import Event
from jobs.streams.hub import Lost, QueueSubscription
from jobs.streams.reads import EventRow


def insert(tenant_id: int, *ids: int) -> list[int]:
    """Insert outbox rows (with the given ids, in that order; or one with a fresh id)."""
    if not ids:
        return [Event.objects.create(tenant_id=tenant_id, changes=[{"event": "test"}]).pk]
    for pk in ids:
        Event.objects.create(id=pk, tenant_id=tenant_id, changes=[{"event": "test", "id": pk}])
    return list(ids)


async def ainsert(tenant_id: int, *ids: int) -> list[int]:
    return await database_sync_to_async(insert, thread_sensitive=False)(tenant_id, *ids)


async def drain(sub: QueueSubscription, want: int, timeout: float = 20) -> list[tuple[EventRow, int]]:
    """Wait until ``sub`` holds ``want`` rows; return them (and remove everything, ``Lost`` marks too)."""
    deadline = time.monotonic() + timeout
    while len(sub.rows()) < want:
        if time.monotonic() > deadline:
            raise AssertionError(f"got {[r.id for r, _ in sub.rows()]}, wanted {want} row(s)")
        await asyncio.sleep(0.02)
    out = sub.rows()
    sub.queue.clear()
    return out


def lost(sub: QueueSubscription) -> list[Lost]:
    """The ``Lost`` marks queued for ``sub``: ids the hub gave up."""
    return [item for item in sub.queue if isinstance(item, Lost)]


async def until(predicate: Callable[[], bool], timeout: float = 20, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)

