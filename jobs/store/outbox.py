"""Write task state changes to the event outbox, one row per tenant per batch.

Call inside the transaction that makes the change, so an event exists exactly when
the change committed.
"""

from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .. import clock
from ..lifecycle import Event as EventName
from ..models import Event

if TYPE_CHECKING:
    from ..models import Task


def change(task: "Task", event: EventName, status: str, **extra: Any) -> dict[str, Any]:
    """One task's change as the outbox stores it (``tenant_id`` picks the row)."""
    return {"event": event.value, "task": task.pk, "type": task.type, "status": status,
            "attempt": task.attempts, "tenant_id": task.tenant_id, **extra}


def record(changes: Iterable[dict[str, Any]]) -> None:
    """Insert the changes (each carrying ``tenant_id``) as one Event row per tenant."""
    by_tenant: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for c in changes:
        entry = dict(c)
        by_tenant[entry.pop("tenant_id")].append(entry)
    if by_tenant:
        # The database's time, like every time the pruners of other hosts compare.
        now = clock.now()
        Event.objects.bulk_create(Event(tenant_id=t, changes=cs, created_at=now) for t, cs in by_tenant.items())
