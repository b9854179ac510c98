"""Pause and resume a queue, a task type or a tenant: what the API, the console, the admin and the
CLI call, so each has one implementation, one count and one wake-up rule.

A pause stops new starts only: running tasks finish. Every dispatcher reads the pauses at most
PAUSE_CACHE_SECONDS old, so a pause holds fleet-wide within a second and survives restarts (it
is a row). A resume unblocks what the pause parked and wakes the workers once it commits; a
claim that still held the old pauses may park a few more in that interval, so the resume
sweeps its scope once more when the interval has passed (``settle``).
"""

import time
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from tenants.models import Tenant
from tenants.signals import diff

from ..conf import conf
from ..exceptions import InvalidPause, NotPaused
from ..lifecycle import Status
from ..models import Pause, Task
from ..notify import wakeup
from ..store import pauses as store
from . import audit

__all__ = ["InvalidPause", "NotPaused", "PauseInfo", "find", "list_pauses", "pause", "resume", "validate"]

#: Parked tasks are counted up to this many per pause (a LIMITed probe, never the whole table).
BLOCKED_COUNT_CAP = 10_000
#: Slack added to PAUSE_CACHE_SECONDS before the resume's second sweep (a claim's transaction).
SETTLE_MARGIN_SECONDS = 0.2


@dataclass(frozen=True, slots=True)
class PauseInfo:
    kind: str
    value: str
    reason: str
    paused_by: str
    created_at: datetime
    #: Tasks it holds parked (``blocked``); ``blocked_more``: there are more than ``blocked``.
    blocked: int
    blocked_more: bool


def _blocked(row: Pause) -> tuple[int, bool]:
    if row.kind == Pause.Kind.TENANT:
        return 0, False  # a tenant's pause parks nothing: its tasks stay pending, unclaimed
    field = "queue" if row.kind == Pause.Kind.QUEUE else "type"
    qs = Task.objects.filter(status=Status.BLOCKED, blocked_on=store.BLOCKED_ON, **{field: row.value})
    n = len(qs.values_list("pk", flat=True)[:BLOCKED_COUNT_CAP + 1])
    return min(n, BLOCKED_COUNT_CAP), n > BLOCKED_COUNT_CAP


def _info(row: Pause, *, count: bool) -> PauseInfo:
    blocked, more = _blocked(row) if count else (0, False)
    return PauseInfo(row.kind, row.value, row.reason, row.paused_by, row.created_at, blocked, more)


def list_pauses(*, count: bool = True) -> list[PauseInfo]:
    """Every pause in force (kind, then value), with how many tasks each holds parked."""
    return [_info(row, count=count) for row in Pause.objects.order_by("kind", "value")]


def validate(kind: object, value: object) -> tuple[str, str]:
    """``(kind, value)`` as a pause would take it; raises ``InvalidPause`` naming the field (forms use it)."""
    return store.validate(kind, value)


def find(kind: str, value: str) -> PauseInfo | None:
    row = Pause.objects.filter(kind=kind, value=value).first()
    return _info(row, count=True) if row is not None else None


def _tenant_of(kind: str, value: str) -> int | None:
    return Tenant.objects.filter(slug=value).values_list("pk", flat=True).first() if kind == Pause.Kind.TENANT \
        else None


def pause(kind: str, value: str, *, reason: str = "", by: str = "") -> tuple[PauseInfo, bool]:
    """Pause ``(kind, value)``; return it and whether it is new (pausing again updates reason and who).

    Records ``pause.create`` (or ``pause.update`` with the reason and who before and after; nothing when
    both are unchanged) in the pause's transaction. Raises ``InvalidPause`` (naming the field) for an
    unknown kind, tenant or type, or a bad name.
    """
    with transaction.atomic():
        old = (Pause.objects.select_for_update().filter(kind=kind, value=value.strip())
               .values("reason", "paused_by").first() if isinstance(value, str) else None)
        row = store.pause(kind, value, reason=reason, by=by)
        change = diff(old or {}, {"reason": row.reason, "paused_by": row.paused_by})
        if old is None or change["after"]:
            audit.record("pause.create" if old is None else "pause.update", target=f"{row.kind} {row.value}",
                         tenant=_tenant_of(row.kind, row.value), counts=change)
        # Again once committed: a dispatcher of this process may have re-read the pauses in between.
        transaction.on_commit(store.invalidate)
    return _info(row, count=True), old is None


def _settle(kind: str, value: str, lifted_at: float) -> None:
    """Sweep once more when every dispatcher's cache has dropped the lifted pause."""
    wait = lifted_at + conf().PAUSE_CACHE_SECONDS + SETTLE_MARGIN_SECONDS - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    # Not if it was paused again meanwhile: that pause's parked tasks are its own.
    if not Pause.objects.filter(kind=kind, value=value).exists() and store.unblock(kind, value):
        wakeup.announce(wakeup.WORK)


def resume(kind: str, value: str) -> int:
    """Lift the pause of ``(kind, value)``; return how many parked tasks went back to ``pending``.

    Records ``pause.delete`` (with how many it unblocked) in one transaction with the resume. Raises
    ``NotPaused`` if it was not paused (and nothing of it was parked), ``InvalidPause`` for an unknown
    kind. The workers are woken once it commits (a tenant's pending tasks, too).
    """
    value = (value or "").strip()
    with transaction.atomic():
        n = store.resume(kind, value)
        audit.record("pause.delete", target=f"{kind} {value}", tenant=_tenant_of(kind, value),
                     counts={"unblocked": n})
        transaction.on_commit(store.invalidate)
    lifted_at = time.monotonic()
    transaction.on_commit(lambda: wakeup.announce(wakeup.WORK))
    # After the caller's transaction commits (at once outside one): never sweeps uncommitted state.
    transaction.on_commit(lambda: _settle(kind, value, lifted_at))
    return n
