"""Who holds a unique key (``jobs.unique``), and letting go the keys whose window has passed.

Taking a key needs no code here: a new task carries it in ``unique_active`` into its INSERT,
and the unique index refuses a second holder. Letting go on leaving the counted states is in
each transition's own UPDATE (``unique.kept``).
"""

from collections.abc import Collection
from datetime import datetime

from ..models import Task


def holders(tenant_id: int, keys: Collection[str], *, now: datetime) -> dict[str, Task]:
    """The live holders of ``keys`` in the tenant, by key: one query on ``task_unique_active_uniq``,
    after letting go (one conditional UPDATE) the keys whose holder's window ended by ``now``."""
    if not keys:
        return {}
    found = {t.unique_active: t for t in Task.objects.filter(tenant_id=tenant_id, unique_active__in=keys)}
    stale = [key for key, t in found.items() if t.unique_until is not None and t.unique_until <= now]
    if stale:
        # Conditional on the window: a holder that took the key since the read above is not touched.
        Task.objects.filter(tenant_id=tenant_id, unique_active__in=stale, unique_until__lte=now).update(
            unique_active=None)
    return {key: t for key, t in found.items() if key is not None and key not in stale}
