"""Which tenants may submit which listed task types (``@task(access="listed")``): grant, revoke, list.

A grant and a revoke that change something record ``grant.create`` / ``grant.delete`` in the audit log,
and drop this process's verified API keys, which keep the grants they were found with
(``jobs.bounds.Allowance``): other processes see the change within ``API_KEY_CACHE_SECONDS``.

The console and the admin call these; ``jobs.bounds.Allowance`` reads the grants when the API
builds a task.
"""

from django.db import IntegrityError, transaction

from tenants import keys
from tenants.models import Tenant

from .. import bounds
from ..exceptions import InvalidTask
from ..models import TypeGrant
from ..registry import registry
from . import audit

__all__ = ["InvalidGrant", "grant", "granted", "listed_types", "revoke", "usable_types"]


class InvalidGrant(InvalidTask):
    """A grant of a type that is not registered, or is open to every tenant anyway."""


def listed_types() -> list[str]:
    """The registered types a tenant needs a grant for."""
    return [t.name for t in registry.types() if t.access == "listed" and not t.internal]


def check(type_name: str) -> None:
    """Raise ``InvalidGrant`` unless ``type_name`` is a registered listed type."""
    found = registry.find(type_name)
    if found is None:
        raise InvalidGrant("type", f"unknown task type {type_name!r}; listed types: "
                                   f"{', '.join(listed_types()) or '(none)'}")
    if found.internal:
        raise InvalidGrant("type", f"{type_name!r} is internal: it is never submitted over the API")
    if found.access != "listed":
        raise InvalidGrant("type", f"{type_name!r} is open to every tenant (access={found.access!r}): "
                                   "nothing to grant")


def grant(tenant: Tenant, type_name: str) -> tuple[TypeGrant, bool]:
    """Let ``tenant`` submit ``type_name`` over the API; returns the grant and whether it is new."""
    check(type_name)
    try:
        with transaction.atomic():
            found, created = TypeGrant.objects.get_or_create(tenant=tenant, type=type_name)
            if created:
                audit.record("grant.create", target=f"tenant {tenant.slug} type {type_name}", tenant=tenant,
                             ids=[found.pk], detail={"type": type_name})
                _forget_verified()
            return found, created
    except IntegrityError:
        # A concurrent grant of the same pair won the race: the grant exists, which is what was asked.
        return TypeGrant.objects.get(tenant=tenant, type=type_name), False


def revoke(tenant: Tenant, type_name: str) -> bool:
    """Stop ``tenant`` submitting ``type_name`` (tasks already queued still run); False if it had no grant.

    Unchecked: a grant of a type since removed from the code can still be revoked.
    """
    with transaction.atomic():
        ids = list(TypeGrant.objects.select_for_update().filter(tenant=tenant, type=type_name)
                   .values_list("pk", flat=True))
        if not ids:
            return False
        TypeGrant.objects.filter(pk__in=ids).delete()
        audit.record("grant.delete", target=f"tenant {tenant.slug} type {type_name}", tenant=tenant, ids=ids,
                     detail={"type": type_name})
        _forget_verified()
    return True


def _forget_verified() -> None:
    """Drop the verified keys (and the grants kept with them) now, and again once the change commits:
    a verification in between would keep the grants as they were."""
    keys.forget()
    transaction.on_commit(keys.forget)


def granted(tenant: Tenant) -> list[str]:
    """The listed types ``tenant`` was granted, by name."""
    return bounds.granted(tenant)


def usable_types(tenant: Tenant) -> list[str]:
    """Every type ``tenant`` may submit over the API: the open ones and its granted listed ones."""
    return bounds.Allowance(tenant).types()
