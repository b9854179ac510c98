"""A tenant's grants of "listed" task types, as the console and the admin edit them.

A stand-in for ``jobs.services.grants`` (``grant``, ``revoke``, ``granted``), which is being
written alongside: until it lands these read and write ``TypeGrant`` rows directly, and the
listed types are those whose ``TaskType.access`` is ``"listed"``. Swap the bodies for the
service's calls once it exists; the view does not change.
"""

from jobs.models import TypeGrant
from jobs.registry import registry
from tenants.models import Tenant


def listed_types() -> list[str]:
    """Public types that only granted tenants may submit."""
    return [name for name in registry.names(public_only=True)
            if getattr(registry.get(name), "access", "all") == "listed"]


def granted(tenant: Tenant) -> list[str]:
    return list(TypeGrant.objects.filter(tenant=tenant).order_by("type").values_list("type", flat=True))


def grant(tenant: Tenant, type_name: str) -> None:
    TypeGrant.objects.get_or_create(tenant=tenant, type=type_name)


def revoke(tenant: Tenant, type_name: str) -> None:
    TypeGrant.objects.filter(tenant=tenant, type=type_name).delete()
