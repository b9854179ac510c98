"""Resources (execution-side rate limits): define, list, delete. The CLI, the admin and (later)
the console and the API all come here, so a definition is checked once, one way.

What a resource does at claim time is ``jobs.store.tokens``; this module only writes the
definitions and reads the buckets' state.
"""

import math
import re
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from tenants.signals import diff, jsonable, values

from .. import clock
from ..exceptions import InvalidResource
from ..models import Resource, ResourceBucket
from ..store import tokens
from . import audit

NAME = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
MAX_RATE = tokens.MAX_RATE
#: A resource's settings (the audit log's before and after values).
SETTINGS = ("rate", "per_seconds", "per_tenant")
#: The shortest window, seconds (the model's bound: the log is kept to the millisecond).
MIN_PER_SECONDS = 0.001


@dataclass(frozen=True, slots=True)
class ResourceState:
    resource: Resource
    #: Starts available now (a global resource); None for a per-tenant one (one window per tenant).
    available: int | None
    #: When the next start frees, if none is available now (a global resource).
    next_at: datetime | None
    #: Per-tenant: the tenants with a window so far, and how many of them have no start left now.
    buckets: int = 0
    exhausted: int = 0


def check(name: object, rate: object, per_seconds: object) -> None:
    """Raise ``InvalidResource`` naming the first bad field."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise InvalidResource("name", "1 to 100 characters of letters, digits and _ . : -")
    if isinstance(rate, bool) or not isinstance(rate, int) or not 1 <= rate <= MAX_RATE:
        # The log keeps one entry per start of the window, in one row: see tokens.MAX_RATE.
        raise InvalidResource("rate", f"a whole number from 1 to {MAX_RATE} (got {rate!r}); for more, "
                                      "use a shorter window")
    if (isinstance(per_seconds, bool) or not isinstance(per_seconds, int | float) or not math.isfinite(per_seconds)
            or per_seconds < MIN_PER_SECONDS):
        raise InvalidResource("per", f"seconds, at least {MIN_PER_SECONDS:g} (got {per_seconds!r})")


def define(name: str, *, rate: int, per_seconds: float, per_tenant: bool = False) -> tuple[Resource, bool]:
    """Create the resource ``name`` or change it; return it and whether it was created.

    Changing ``per_tenant`` drops the buckets (their scopes meant the other thing); changing the
    rate or the window keeps them: the next claim reads the log with the new numbers.
    """
    check(name, rate, per_seconds)
    with transaction.atomic():
        resource = Resource.objects.select_for_update().filter(name=name).first()
        created = resource is None
        before = {} if resource is None else values(resource, SETTINGS)
        if resource is None:
            resource = Resource(name=name)
        elif resource.per_tenant != per_tenant:
            ResourceBucket.objects.filter(resource=resource).delete()
        resource.rate, resource.per_seconds, resource.per_tenant = rate, float(per_seconds), per_tenant
        resource.updated_at = timezone.now()
        resource.save()
        if not per_tenant:
            # The one bucket exists before any claim needs it: no claim has to insert it.
            ResourceBucket.objects.bulk_create([ResourceBucket(resource=resource, scope=0)], ignore_conflicts=True)
        change = diff(before, values(resource, SETTINGS))
        if created or change["after"]:
            audit.record("resource.create" if created else "resource.update", target=f"resource {name}",
                         ids=[resource.pk], counts=change)
    return resource, created


def delete(name: str) -> bool:
    """Delete the resource ``name`` (its buckets with it); False if there was none.

    Its tasks then start unlimited (an undefined resource does not limit); those already
    parked until a token run at that time.
    """
    with transaction.atomic():
        resource = Resource.objects.select_for_update().filter(name=name).first()
        if resource is None:
            return False
        audit.record("resource.delete", target=f"resource {name}", ids=[resource.pk],
                     counts={"before": jsonable(values(resource, SETTINGS))})
        resource.delete()
    return True


def get(name: str) -> Resource | None:
    return Resource.objects.filter(name=name).first()


def available(name: str, tenant_id: int = 0) -> tuple[int, datetime | None]:
    """(starts available now, when the next frees if none) for ``name`` as seen by a tenant's tasks."""
    return tokens.state(name, tenant_id, clock.now())


def overview() -> list[ResourceState]:
    """Every resource with its state now (one read of the resources, one of their buckets)."""
    now = clock.now()
    resources = list(Resource.objects.order_by("name"))
    logs: dict[int, list[list[float]]] = {}
    for resource_id, starts in ResourceBucket.objects.filter(resource__in=resources).values_list(
            "resource_id", "starts").iterator():
        logs.setdefault(resource_id, []).append(starts or [])
    states = []
    for r in resources:
        counts = [tokens.available_in(r, log, now) for log in logs.get(r.pk, [])]
        if r.per_tenant:
            states.append(ResourceState(r, None, None, buckets=len(counts),
                                        exhausted=sum(1 for n, _ in counts if n == 0)))
        else:
            n, at = counts[0] if counts else (r.rate, None)
            states.append(ResourceState(r, n, at, buckets=len(counts)))
    return states
