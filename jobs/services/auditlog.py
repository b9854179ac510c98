"""Reading the audit log: one set of filters (action, actor, tenant, since, until) for the console's
page, ``GET /api/audit`` and ``manage.py audit``, newest first, in keyset pages by id (no COUNT).

Writing it is ``jobs.services.audit``.
"""

import re
from datetime import datetime, timedelta
from typing import Any

import django_filters
from django.db.models import QuerySet

from tenants.models import Tenant

from .. import clock
from ..models import AuditEntry
from . import listing
from .listing import MomentFilter

#: ``--since 90m``, ``1h``, ``7d``: a duration back from now.
_AGO = re.compile(r"([0-9]{1,6})([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def ago(raw: str) -> datetime | None:
    """``raw`` as a moment: a duration back from now (``30m``, ``1h``, ``7d``, ``2w``), else ``None``."""
    found = _AGO.fullmatch(raw.strip())
    if found is None:
        return None
    return clock.now() - timedelta(seconds=int(found[1]) * _UNITS[found[2]])


class AuditFilter(django_filters.FilterSet):
    """``action`` (``task.cancel``, or a noun alone: ``pause`` is every ``pause.*``), ``actor`` (a username,
    a key's prefix, user@host), ``tenant`` (a slug), ``since`` and ``until`` (ISO 8601, ``until`` excluded)."""

    action = django_filters.CharFilter(method="by_action", max_length=64)
    actor = django_filters.CharFilter(field_name="actor", max_length=200)
    tenant = django_filters.CharFilter(method="by_tenant", max_length=100)
    since = MomentFilter(field_name="at", lookup_expr="gte")
    until = MomentFilter(field_name="at", lookup_expr="lt")

    class Meta:
        model = AuditEntry
        fields: list[str] = []

    def by_action(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        value = value.strip()
        if "." in value:
            return queryset.filter(action=value)
        return queryset.filter(action__startswith=f"{value}.")

    def by_tenant(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        found = Tenant.objects.filter(slug=value.strip()).values_list("pk", flat=True).first()
        return queryset.filter(tenant_id=found) if found is not None else queryset.none()


def entries(data: Any) -> AuditFilter:
    """The filters bound to ``data`` (a QueryDict or a dict); ``.errors`` names a bad field, ``.qs`` the entries."""
    return AuditFilter(data, queryset=AuditEntry.objects.select_related("tenant"))


def page(qs: QuerySet[AuditEntry], *, size: int, after: int | None = None) -> tuple[list[AuditEntry], int | None]:
    """Up to ``size`` entries older than id ``after``, newest first, and the id to continue from (``None``: the end)."""
    rows, more = listing.keyset(qs, size=size, after=after)
    return rows, rows[-1].pk if more and rows else None


def as_dict(entry: AuditEntry) -> dict[str, Any]:
    """An entry as the API and ``manage.py audit --json`` show it."""
    return {
        "id": entry.pk, "at": entry.at.isoformat(), "actor_kind": entry.actor_kind, "actor": entry.actor,
        "source": entry.source, "address": entry.address, "action": entry.action,
        "tenant": entry.tenant.slug if entry.tenant else None, "target": entry.target, "target_ids": entry.target_ids,
        "filter": entry.filter, "counts": entry.counts, "detail": entry.detail,
    }
