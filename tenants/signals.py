"""Operator changes made in ``tenants`` (a tenant's settings, its API keys), for the audit log.

``tenants`` sits below the engine (it may not import ``jobs.services``), so it cannot write the log
itself: it sends ``operator_change`` and the engine records it (``jobs/apps.py`` connects the
receiver). A signal runs its receivers synchronously, in the sender's thread and transaction: send it
inside the ``atomic()`` that makes the change, and the entry commits or rolls back with the change.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import models
from django.dispatch import Signal

from .models import Tenant

#: Keyword arguments: those of ``jobs.services.audit.record`` (``action``, ``target``, ``tenant``, ``ids``,
#: ``counts``, ``detail``).
operator_change = Signal()


def send(action: str, *, target: str, tenant: Tenant | int | None = None, ids: Iterable[int] = (),
         counts: Mapping[str, Any] | None = None, detail: Mapping[str, Any] | None = None) -> None:
    """Record one operator change (call it inside the change's transaction)."""
    operator_change.send(sender=Tenant, action=action, target=target, tenant=tenant, ids=list(ids),
                         counts=dict(counts or {}), detail=dict(detail or {}))


def jsonable(value: Any) -> Any:
    """``value`` as the log stores it: JSON's own types as they are, a row as its id, anything else as text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, models.Model):
        return value.pk
    return str(value)


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"before": {...}, "after": {...}}`` of the fields of ``after`` whose value differs (empty dicts: none).

    A field ``before`` lacks is new (a create: ``before`` is ``{}``), so it is only in ``after``.
    """
    old = {name: jsonable(before[name]) for name in after if name in before}
    new = {name: jsonable(value) for name, value in after.items()}
    changed = [name for name in new if name not in old or old[name] != new[name]]
    return {"before": {n: old[n] for n in changed if n in old}, "after": {n: new[n] for n in changed}}


def values(obj: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in fields}
