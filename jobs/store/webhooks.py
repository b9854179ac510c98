"""Webhook deliveries: every outcome an active endpoint of its tenant subscribes to becomes a delivery
task, inserted in the outcome's own transaction (at least once: the two commit together or not at all).

``effects.record`` calls ``deliveries`` with every batch of changes. Outcomes of deliveries are left
out, so an endpoint that fails cannot feed itself. The tenants that have endpoints at all are cached
per process (``WEBHOOK_CACHE_SECONDS``): a batch of tenants without any costs no query.
"""

import logging
import threading
import time
from typing import Any

from django.db import transaction

from .. import clock
from ..conf import conf
from ..models import Task, Webhook
from ..models.webhooks import DELIVERY_TYPE, EVENTS
from ..notify import wakeup
from ..registry import registry
from ..spec import build_task
from . import rows

logger = logging.getLogger(__name__)

_lock = threading.Lock()
#: (monotonic time read, tenant ids with an active endpoint)
_subscribed: tuple[float, frozenset[int]] | None = None


def forget() -> None:
    """Read the subscribed tenants again at the next outcome (an endpoint was created or deleted here)."""
    global _subscribed
    with _lock:
        _subscribed = None


def subscribed() -> frozenset[int]:
    """The tenants with at least one active endpoint, as read at most ``WEBHOOK_CACHE_SECONDS`` ago."""
    global _subscribed
    found = _subscribed
    if found is None or time.monotonic() - found[0] > conf().WEBHOOK_CACHE_SECONDS:
        ids = frozenset(Webhook.objects.active().values_list("tenant_id", flat=True).distinct())
        with _lock:
            _subscribed = found = (time.monotonic(), ids)
    return found[1]


def deliveries(changes: list[dict[str, Any]]) -> list[Task]:
    """Insert a delivery task per (change, endpoint subscribed to its event); return them."""
    wanted = [c for c in changes if c.get("event") in EVENTS and c.get("type") != DELIVERY_TYPE]
    tenants = {c["tenant_id"] for c in wanted} & subscribed() if wanted else set()
    if not tenants:
        return []
    if DELIVERY_TYPE not in registry:
        # Never fail the outcomes' own write for it (a process set up without ``jobs.tasks``): say so, loudly.
        logger.error("webhook deliveries of %d outcome(s) not queued: task type %s is not registered",
                     len(wanted), DELIVERY_TYPE)
        return []
    endpoints = list(Webhook.objects.active().filter(tenant_id__in=tenants).select_related("tenant"))
    now = clock.now()
    tasks = [
        build_task(e.tenant, {"type": DELIVERY_TYPE, "payload": {
            "webhook": e.pk, "event": c["event"], "task": c["task"], "attempt": c.get("attempt"),
            "occurred_at": now.isoformat(),
        }}, now=now)
        for c in wanted for e in endpoints if e.tenant_id == c["tenant_id"] and c["event"] in e.events
    ]
    if tasks:
        # Their concurrency key's row is created by the first claim that meets it (``gates.admit``):
        # taking it here would make the completer's transaction write one more table.
        rows.insert(tasks)
        transaction.on_commit(wakeup.announce)
    return tasks
