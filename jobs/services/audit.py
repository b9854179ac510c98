"""The operator audit log: every operator change records one entry, in the change's transaction.

Callers (the services that change things, and the entry points for what has no service) call
``record`` inside the ``atomic()`` that makes the change, so the entry commits — or rolls back —
with it. Who acted comes from ``jobs.actor`` (set by the console, the admin, the API and the CLI).
"""

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction

from tenants.models import Tenant

from .. import actor as actors
from .. import clock
from ..conf import conf
from ..models import AuditEntry


def record(
    action: str,
    *,
    target: str = "",
    tenant: Tenant | int | None = None,
    ids: Iterable[int] = (),
    filter: Mapping[str, Any] | None = None,
    counts: Mapping[str, Any] | None = None,
    detail: Mapping[str, Any] | None = None,
    actor: actors.Actor | None = None,
) -> AuditEntry:
    """Write one audit entry now (inside the caller's transaction, if any)."""
    who = actor or actors.current()
    limit = conf().AUDIT_MAX_IDS
    kept: list[int] = []
    total = 0
    for pk in ids:
        total += 1
        if len(kept) < limit:
            kept.append(int(pk))
    all_counts = dict(counts or {})
    if total > len(kept):
        all_counts.setdefault("ids", total)
    entry = AuditEntry(
        at=clock.now(), actor_kind=who.kind, actor=who.name[:200], source=who.source, address=who.address[:64],
        action=action, target=target[:200], target_ids=kept, filter=dict(filter or {}), counts=all_counts,
        detail=dict(detail or {}),
    )
    if isinstance(tenant, Tenant):
        entry.tenant = tenant
    elif tenant is not None:
        entry.tenant_id = tenant
    entry.save(force_insert=True)
    return entry


def prune(now: datetime | None = None, *, batch: int = 1000) -> int:
    """Delete entries older than ``AUDIT_RETENTION_SECONDS`` (0 keeps them); return how many."""
    retention = conf().AUDIT_RETENTION_SECONDS
    if not retention:
        return 0
    cutoff = (now or clock.now()) - timedelta(seconds=retention)
    total = 0
    while True:
        ids = list(AuditEntry.objects.filter(at__lt=cutoff).order_by("at").values_list("pk", flat=True)[:batch])
        if not ids:
            return total
        with transaction.atomic():
            # A queryset delete is the one way out (an entry's own delete() refuses): pruning only.
            total += AuditEntry.objects.filter(pk__in=ids).delete()[0]
