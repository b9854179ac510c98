"""Creating and changing a tenant: the API, the console, the admin and the CLI all come here, so a
change is saved, dropped from the key cache and recorded in the audit log one way.

Values arrive validated (each entry point has its own form: a serializer, a model form, flags).
"""

from collections.abc import Mapping
from typing import Any

from django.db import transaction

from . import keys, signals
from .models import Tenant

#: What an operator sets on a tenant (the audit log's before/after values).
FIELDS = ("name", "slug", "weight", "active", "max_running", "rate_limit", "rate_window_seconds", "max_pending",
          "max_pending_age_seconds", "allowed_queues")


def create(tenant: Tenant) -> Tenant:
    """Save a new tenant and record ``tenant.create`` with its settings."""
    with transaction.atomic():
        tenant.save(force_insert=True)
        signals.send("tenant.create", target=f"tenant {tenant.slug}", tenant=tenant, ids=[tenant.pk],
                     counts=signals.diff({}, signals.values(tenant, FIELDS)))
    return tenant


def update(tenant: Tenant, changes: Mapping[str, Any]) -> list[str]:
    """Set ``changes`` on ``tenant``, save those that differ from the stored row and record
    ``tenant.update`` with their values before and after; return the names of the fields changed.

    Nothing differs: nothing is written, nothing recorded.
    """
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise ValueError(f"not a tenant setting: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        # The row as stored, locked: the "before" is what this change replaces, not a stale copy.
        stored = Tenant.objects.select_for_update().get(pk=tenant.pk)
        found = signals.diff(signals.values(stored, changes), changes)
        for name, value in changes.items():
            setattr(tenant, name, value)
        changed = list(found["after"])
        if changed:
            tenant.save(update_fields=changed)
            signals.send("tenant.update", target=f"tenant {tenant.slug}", tenant=tenant, ids=[tenant.pk],
                         counts=found)
            # Cached key verifications carry the tenant's state and limits: dropped now, and again after
            # the commit (a verification in between would cache the old row).
            keys.forget()
            transaction.on_commit(keys.forget)
    return changed
