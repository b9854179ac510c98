"""Who may see what: every query is scoped to the key's tenant unless an operator asks for all."""

import math
from typing import Any

from django.db import DEFAULT_DB_ALIAS
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from tenants import ratelimit
from tenants.keys import VerifiedKey
from tenants.models import Tenant

from ..bounds import Allowance
from ..models import Task, TaskQuerySet
from ..services import charging, listing
from .errors import Problem, invalid

TRUE = {"1", "true", "yes"}


def key_of(request: Request) -> VerifiedKey:
    key = request.auth
    if not isinstance(key, VerifiedKey):
        raise Problem(401, "An API key is required.")
    return key


def all_tenants(raw: str | None, key: VerifiedKey) -> bool:
    """``all=<raw>``: every tenant, for operator keys only (403 for a tenant key); the API stream's too."""
    if raw is None or raw.lower() in {"0", "false", "no", ""}:
        return False
    if raw.lower() not in TRUE:
        raise invalid("all", "must be true or false")
    if not key.is_operator:
        raise Problem(403, "Only operator keys may read every tenant (all=true).", kind="operator-only")
    return True


def wants_all(request: Request) -> bool:
    """``?all=true``: every tenant, for operator keys only (403 for a tenant key)."""
    return all_tenants(request.query_params.get("all"), key_of(request))


def query_int(request: Request, name: str, default: int, *, low: int, high: int) -> int:
    """An integer query parameter in ``[low, high]`` (400 naming it otherwise)."""
    value = listing.parse_int(request.query_params.get(name), name, low=low, high=high, default=default)
    return default if value is None else value


def tenant_ids(request: Request) -> list[int] | None:
    """Tenants the request may read: ``None`` means every tenant."""
    return None if wants_all(request) else [key_of(request).tenant_id]


#: The tenant's fields a verified key carries (``tenants.keys.VerifiedKey``), in ``own_tenant``'s order.
KEY_FIELDS = ["id", "slug", "allowed_queues", "max_pending", "max_pending_age_seconds"]


def own_tenant(request: Request) -> Tenant:
    """The key's tenant: a row from the verified (cached) key, so no query.

    ``from_db`` marks it as loaded with only ``KEY_FIELDS`` (its queues and backlog caps, as
    fresh as the verification: ``API_KEY_CACHE_SECONDS``); any other field is deferred and read
    from the database if asked for (never a default posing as data).
    """
    key = key_of(request)
    return Tenant.from_db(DEFAULT_DB_ALIAS, KEY_FIELDS, [key.tenant_id, key.tenant_slug, list(key.allowed_queues),
                                                         key.max_pending, key.max_pending_age])


def allowance(request: Request, tenant: Tenant) -> Allowance:
    """What the key's ``tenant`` may submit, its grants kept with the key's verification (no query per request)."""
    return Allowance(tenant, memo=key_of(request).memo)


def tenant_of(request: Request) -> Tenant | None:
    """The tenant an action is confined to (``None``: an operator acting on every tenant)."""
    return None if wants_all(request) else own_tenant(request)


def tasks(request: Request) -> TaskQuerySet:
    ids = tenant_ids(request)
    return Task.objects.all() if ids is None else Task.objects.filter(tenant_id=ids[0])


def admit(request: Request, cost: int, *, tenant_id: int | None = None) -> tuple[charging.Charge, dict[str, str]]:
    """Charge ``cost`` against a tenant's rate limit, or raise 429 (503 if it cannot tell).

    The key's tenant by default (its limits come with the verified key: no query);
    ``tenant_id`` names another one, as when an operator retries a tenant's task: the work is
    that tenant's, so is the charge.
    """
    key = key_of(request)
    if tenant_id is None or tenant_id == key.tenant_id:
        tenant_id, slug, rules = key.tenant_id, key.tenant_slug, charging.policy(key.rate_limit, key.rate_window)
    else:
        known = charging.policies([tenant_id])
        slug, rules = known[tenant_id] if tenant_id in known else (str(tenant_id), charging.policy(None, None))
    try:
        charge = charging.charge(tenant_id, cost, rules, tenant=slug)
    except ratelimit.RateLimiterUnavailable:
        raise limiter_unavailable() from None
    except charging.NeverFits as exc:
        raise never_fits(cost, rules, exc.tenant) from None
    except charging.RateLimited as exc:
        retry = exc.retry_after
        raise Problem(429, str(exc), kind="rate-limited",
                      headers={**rate_headers(exc.decision, rules.limit, rules.window), "Retry-After": str(retry)},
                      extra={"retry_after": retry}) from None
    return charge, rate_headers(charge.decision, rules.limit, rules.window)


def never_fits(cost: int, rules: charging.Policy, tenant: str, *, field: str | None = None) -> Problem:
    """The 413 of a request costing more than its tenant may submit in a whole window (nothing charged):
    no wait admits it, so it is not a 429 with a ``Retry-After`` it could never satisfy."""
    errors = [{"field": field, "message": f"{cost} tasks are more than the rate limit of {rules.limit} per "
                                         f"{rules.window} s"}] if field else []
    detail = (f"This request costs {cost}; the rate limit of tenant {tenant} is {rules.limit} tasks per "
              f"{rules.window} s, so no wait admits it: send at most {rules.limit} tasks per request.")
    return Problem(413, detail, kind="over-rate-limit",
                   extra={"limit": rules.limit, "window": rules.window, "cost": cost,
                          **({"errors": errors} if errors else {})})


def limiter_unavailable() -> Problem:
    """The 503 of a limiter that cannot tell (Redis down and failing closed): submissions and reads alike."""
    return Problem(503, "The rate limiter is unavailable; try again shortly.", kind="unavailable",
                   headers={"Retry-After": "5"})


def rate_headers(decision: ratelimit.Decision, limit: int, window: int) -> dict[str, str]:
    """The IETF RateLimit headers describing ``decision`` of a ``limit`` per ``window`` seconds."""
    return {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(math.ceil(decision.reset)),
        "RateLimit-Policy": f"{limit};w={window}",
    }


def check_body_size(request: Request, limit: int) -> None:
    raw: Any = request.META.get("CONTENT_LENGTH") or 0
    try:
        length = int(raw)
    except ValueError:
        raise invalid("Content-Length", "not a number") from None
    if length > limit:
        raise Problem(413, f"The request body is {length} bytes; the limit is {limit}.", kind="payload-too-large",
                      extra={"limit": limit})


def body_object(request: Request) -> dict[str, Any]:
    """The request's JSON body, which must be an object (400 naming ``body`` otherwise)."""
    body = request.data
    if not isinstance(body, dict):
        raise ValidationError({"body": "must be a JSON object"})
    return body


def body_fields(request: Request, shape: type[serializers.Serializer[Any]], unknown: str) -> dict[str, Any]:
    """The body validated by ``shape``; a field ``shape`` does not have is a 400 saying ``unknown``
    (a misspelt field must never pass as absent)."""
    body = body_object(request)
    extra = sorted(set(body) - set(shape().fields))
    if extra:
        raise ValidationError(dict.fromkeys(extra, unknown))
    validated = shape(data=body)
    validated.is_valid(raise_exception=True)
    return dict(validated.validated_data)
