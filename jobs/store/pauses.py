"""The pauses every claim honours, read from the ``Pause`` table at most every PAUSE_CACHE_SECONDS.

A paused tenant's tasks are simply not asked for (they stay ``pending``); a task of a paused
queue or type that a claim meets is parked ``blocked`` (``blocked_on='pause'``), so the
claim's index range never fills with work it may not start.

``pause()`` and ``resume()`` are the only writers of the table. A resume hands the parked
tasks of its scope back to ``pending`` (``task.unblocked``), a bounded batch per transaction;
a claim that still held the old pauses in its cache may park a few more within
PAUSE_CACHE_SECONDS of the resume, so the caller sweeps once more after that (``unblock``).
"""

import threading
import time
from dataclasses import dataclass, field

from django.db import transaction

from tenants.models import Tenant

from ..conf import conf
from ..exceptions import InvalidPause, NotPaused
from ..lifecycle import Event, Status
from ..models import Pause, Task, TaskQuerySet
from ..registry import registry
from . import effects
from .batches import BATCH, id_batches
from .outbox import change

#: ``Task.blocked_on`` of a task parked by a pause.
BLOCKED_ON = "pause"
MAX_QUEUE_CHARS: int = Task._meta.get_field("queue").max_length  # type: ignore[assignment]
MAX_TYPE_CHARS: int = Task._meta.get_field("type").max_length  # type: ignore[assignment]
MAX_REASON_CHARS: int = Pause._meta.get_field("reason").max_length  # type: ignore[assignment]
MAX_BY_CHARS: int = Pause._meta.get_field("paused_by").max_length  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class PauseSet:
    queues: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    #: Tenants by slug (as stored) and by id (what a claim compares).
    tenant_slugs: frozenset[str] = frozenset()
    tenant_ids: frozenset[int] = frozenset()
    rows: tuple[Pause, ...] = field(default=())

    def __bool__(self) -> bool:
        return bool(self.queues or self.types or self.tenant_ids)

    def blocks(self, task: Task) -> bool:
        """Whether a claim must park ``task`` (its queue or its type is paused)."""
        return task.queue in self.queues or task.type in self.types


_lock = threading.Lock()
_cached: PauseSet | None = None
_loaded = 0.0


def load() -> PauseSet:
    """Read the pauses now."""
    rows = tuple(Pause.objects.all())
    slugs = frozenset(p.value for p in rows if p.kind == Pause.Kind.TENANT)
    ids = frozenset(Tenant.objects.filter(slug__in=slugs).values_list("pk", flat=True)) if slugs else frozenset()
    return PauseSet(
        queues=frozenset(p.value for p in rows if p.kind == Pause.Kind.QUEUE),
        types=frozenset(p.value for p in rows if p.kind == Pause.Kind.TYPE),
        tenant_slugs=slugs, tenant_ids=ids, rows=rows,
    )


def current() -> PauseSet:
    """The pauses, at most PAUSE_CACHE_SECONDS old (one small query per interval per process)."""
    global _cached, _loaded
    with _lock:
        if _cached is None or time.monotonic() - _loaded > conf().PAUSE_CACHE_SECONDS:
            _cached = load()
            _loaded = time.monotonic()
        return _cached


def invalidate() -> None:
    """Forget the cached pauses (this process changed them)."""
    global _cached
    with _lock:
        _cached = None


# --------------------------------------------------------------------------- the two transitions


def validate(kind: object, value: object) -> tuple[str, str]:
    """``(kind, value)`` checked: raises ``InvalidPause`` naming the field."""
    if kind not in Pause.Kind.values:
        raise InvalidPause("kind", f"must be one of {', '.join(Pause.Kind.values)}")
    if not isinstance(value, str) or not value.strip():
        raise InvalidPause("value", f"give the {kind}'s name")
    value = value.strip()
    if not value.isprintable():
        raise InvalidPause("value", "must not contain control characters")
    if kind == Pause.Kind.TENANT:
        if not Tenant.objects.filter(slug=value).exists():
            raise InvalidPause("value", f"no tenant {value!r}")
    elif kind == Pause.Kind.QUEUE:
        # Queues are free-form names given at enqueue: pausing one before its first task is legitimate.
        if len(value) > MAX_QUEUE_CHARS:
            raise InvalidPause("value", f"a queue's name has at most {MAX_QUEUE_CHARS} characters")
    else:
        if len(value) > MAX_TYPE_CHARS:
            raise InvalidPause("value", f"a type's name has at most {MAX_TYPE_CHARS} characters")
        # A misspelt type would pause nothing and look like it worked. Known: registered in this
        # process, or named by a task (a type only the workers import). The table probe is only
        # paid for a name this process does not know, and stops at the first row.
        if value not in registry and not Task.objects.filter(type=value).exists():
            known = ", ".join(registry.names()) or "(none)"
            raise InvalidPause("value", f"unknown task type {value!r}; known types: {known}")
    return str(kind), value


def pause(kind: str, value: str, *, reason: str = "", by: str = "") -> Pause:
    """Pause a queue, a type or a tenant; return the row.

    Idempotent: pausing what is already paused updates its reason and who, and keeps
    ``created_at`` (the pause has been in force since then).
    """
    kind, value = validate(kind, value)
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON_CHARS:
        raise InvalidPause("reason", f"at most {MAX_REASON_CHARS} characters")
    if not reason.replace("\n", " ").isprintable():  # NUL, lone surrogates: the database refuses them
        raise InvalidPause("reason", "must be text without control characters")
    by = (by or "")[:MAX_BY_CHARS]
    with transaction.atomic():
        row, created = Pause.objects.select_for_update().get_or_create(
            kind=kind, value=value, defaults={"reason": reason, "paused_by": by})
        if not created and (row.reason, row.paused_by) != (reason, by):
            row.reason, row.paused_by = reason, by
            row.save(update_fields=["reason", "paused_by"])
    invalidate()
    return row


def _scope(kind: str, value: str) -> TaskQuerySet:
    """The tasks a pause of ``(kind, value)`` parked: ``blocked`` on task_gate_idx's status prefix."""
    qs = Task.objects.filter(status=Status.BLOCKED, blocked_on=BLOCKED_ON)
    if kind == Pause.Kind.QUEUE:
        return qs.filter(queue=value)
    if kind == Pause.Kind.TYPE:
        return qs.filter(type=value)
    return qs.filter(tenant__slug=value)


def unblock(kind: str, value: str, *, batch: int = BATCH) -> int:
    """Hand the tasks a pause of ``(kind, value)`` parked back to ``pending``; return how many.

    A task also held by another pause still in force (its queue and its type both paused)
    stays parked until that one is lifted too.
    """
    remaining = load()
    qs = _scope(kind, value).exclude(queue__in=remaining.queues).exclude(type__in=remaining.types)
    total = 0
    for ids in id_batches(qs, batch):
        with transaction.atomic():
            rows = list(Task.objects.filter(pk__in=ids, status=Status.BLOCKED, blocked_on=BLOCKED_ON)
                        .select_for_update().only("pk", "tenant_id", "type", "attempts"))
            total += Task.objects.filter(pk__in=[t.pk for t in rows]).update(
                status=Status.PENDING, blocked_on=None)
            effects.record(change(t, Event.UNBLOCKED, Status.PENDING) for t in rows)
    return total


def resume(kind: str, value: str, *, batch: int = BATCH) -> int:
    """Lift a pause and unblock what it parked; return how many tasks were unblocked.

    Raises ``NotPaused`` when there was no such pause and nothing of its scope was parked
    (parked tasks without a pause, left by a claim's stale cache, are unblocked all the same).
    """
    if kind not in Pause.Kind.values:
        raise InvalidPause("kind", f"must be one of {', '.join(Pause.Kind.values)}")
    value = (value or "").strip()
    deleted, _ = Pause.objects.filter(kind=kind, value=value).delete()
    invalidate()
    n = unblock(kind, value, batch=batch)
    if not deleted and not n:
        raise NotPaused(kind, value)
    return n
