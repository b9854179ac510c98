"""Admission control: a tenant's backlog caps, checked before the API accepts new work.

``Tenant.max_pending`` caps its waiting tasks (``lifecycle.WAITING``: pending, scheduled,
blocked); ``Tenant.max_pending_age_seconds`` refuses new work while its oldest due task has
waited longer than that (its workers are not keeping up: more work only makes it worse). A
refusal is a 429 that costs the rate limit nothing. Python's ``enqueue()`` is trusted code
and is not subject to it.

Bounded cost at any backlog: the count is ``LIMIT max_pending + 1`` on ``task_claim_idx``
(``status, tenant, -priority, id``: three index ranges, no row read), the age one index probe
per priority on the same index (the head of each priority's claim order). Each process keeps
what it read per tenant for ``CACHE_SECONDS`` and adds what it admits meanwhile, so a cap
can be overshot by at most what the *other* processes admit in that time.

The caps themselves come with the tenant row the caller has: the API's comes with the verified
key (``jobs.api.scope.own_tenant``: as fresh as ``API_KEY_CACHE_SECONDS``, and at once in the
process that changed them, ``tenants.changes``), so a tenant without caps costs no query at all;
a row loaded without them is read once.
"""

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import OuterRef, Subquery

from tenants.models import Tenant

from .. import clock
from ..lifecycle import WAITING, Status
from ..models import Task
from . import listing

__all__ = ["CACHE_SECONDS", "Refused", "admitted", "check", "oldest_due", "reset", "waiting"]

#: How long a process trusts what it read of a tenant's backlog.
CACHE_SECONDS = 1.0
#: What a refusal suggests: a backlog drains, or workers catch up, over seconds, not at once.
RETRY_AFTER_SECONDS = 5
#: ``Task.priority`` is 1 … 5 (a check constraint).
PRIORITIES = range(1, 6)


class Refused(Exception):
    """The tenant is over a cap: ``cap`` names it, ``limit`` is its value; nothing was written or charged."""

    def __init__(self, detail: str, *, cap: str, limit: int, observed: dict[str, Any]) -> None:
        super().__init__(detail)
        self.cap = cap
        self.limit = limit
        self.observed = observed
        self.retry_after = RETRY_AFTER_SECONDS


@dataclass(slots=True)
class _Backlog:
    read_at: float
    max_pending: int | None
    max_age: int | None
    waiting: int  # exact up to max_pending + 1
    oldest_due: datetime | None


_cache: dict[int, _Backlog] = {}
_lock = threading.Lock()


def waiting(tenant_id: int, cap: int) -> int:
    """The tenant's waiting tasks, counted up to ``cap + 1`` at most."""
    qs = Task.objects.filter(status__in=WAITING, tenant_id=tenant_id)
    n, more = listing.bounded_count(qs, cap)
    return n + 1 if more else n


def oldest_due(tenant_id: int) -> datetime | None:
    """The earliest ``run_at`` among the heads of the tenant's pending tasks, one per priority.

    Pending means due (a task becomes pending at its ``run_at``, or is requeued with now), and
    the head of each priority in claim order (lowest id) is the one that has waited longest there.
    """
    heads = {
        f"p{p}": Subquery(Task.objects.filter(status=Status.PENDING, tenant_id=OuterRef("pk"), priority=p)
                          .order_by("id").values("run_at")[:1])
        for p in PRIORITIES
    }
    row = Tenant.objects.filter(pk=tenant_id).annotate(**heads).values_list(*heads).first()
    found = [when for when in row or () if when is not None]
    return min(found) if found else None


CAPS = ("max_pending", "max_pending_age_seconds")


def _caps(tenant: Tenant) -> tuple[int | None, int | None]:
    """The tenant's caps as its row has them (read once if it was loaded without them)."""
    if tenant.get_deferred_fields() & set(CAPS):
        caps = Tenant.objects.filter(pk=tenant.pk).values_list(*CAPS).first()
        return caps or (None, None)
    return tenant.max_pending, tenant.max_pending_age_seconds


def _read(tenant_id: int, max_pending: int | None, max_age: int | None) -> _Backlog:
    return _Backlog(
        read_at=time.monotonic(),
        max_pending=max_pending,
        max_age=max_age,
        waiting=waiting(tenant_id, max_pending) if max_pending is not None else 0,
        oldest_due=oldest_due(tenant_id) if max_age is not None else None,
    )


def _backlog(tenant_id: int, max_pending: int | None, max_age: int | None) -> _Backlog:
    with _lock:
        known = _cache.get(tenant_id)
    # Counted for other caps (one was off, so not counted): not an answer for these.
    if (known is not None and time.monotonic() - known.read_at < CACHE_SECONDS
            and (known.max_pending, known.max_age) == (max_pending, max_age)):
        return known
    fresh = _read(tenant_id, max_pending, max_age)
    with _lock:
        _cache[tenant_id] = fresh
    return fresh


def check(tenant: Tenant, adding: int) -> None:
    """Raise ``Refused`` if ``adding`` more waiting tasks would put the tenant over a cap."""
    max_pending, max_age = _caps(tenant)
    if max_pending is None and max_age is None:
        return  # nothing to count
    backlog = _backlog(tenant.pk, max_pending, max_age)
    cap = backlog.max_pending
    if cap is not None and backlog.waiting + adding > cap:
        held = f"more than {cap}" if backlog.waiting > cap else str(backlog.waiting)
        raise Refused(
            f"tenant {tenant.slug} has {held} waiting tasks and this request adds {adding}; "
            f"its max_pending is {cap}.",
            cap="max_pending", limit=cap, observed={"waiting": min(backlog.waiting, cap), "adding": adding},
        )
    if backlog.max_age is not None and backlog.oldest_due is not None:
        age = int((clock.now() - backlog.oldest_due).total_seconds())
        if age > backlog.max_age:
            raise Refused(
                f"tenant {tenant.slug}'s oldest due task has waited {age} s; "
                f"its max_pending_age_seconds is {backlog.max_age}.",
                cap="max_pending_age_seconds", limit=backlog.max_age, observed={"oldest_age_seconds": age},
            )


def admitted(tenant_id: int, n: int) -> None:
    """Count ``n`` tasks this process just created into its cached view of the backlog."""
    with _lock:
        known = _cache.get(tenant_id)
        if known is not None:
            known.waiting += n


def reset() -> None:
    """Forget every cached backlog (tests, and after changing a tenant's caps)."""
    with _lock:
        _cache.clear()
