"""The pauses every claim honours, read from the ``Pause`` table at most every PAUSE_CACHE_SECONDS.

A paused tenant's tasks are simply not asked for (they stay ``pending``); a task of a paused
queue or type that a claim meets is parked ``blocked`` (``blocked_on='pause'``), so the
claim's index range never fills with work it may not start.
"""

import threading
import time
from dataclasses import dataclass, field

from tenants.models import Tenant

from ..conf import conf
from ..models import Pause, Task


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
