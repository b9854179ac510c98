"""What new work costs a tenant: the one entry point to its rate limit (``tenants.ratelimit``).

Submissions, the API's retries and the console's bulk requeues all charge here, one unit
per task, against the tenant's own sliding window: a requeue is as much work as a new task
(REVIEW M4), so it must not be a way around the limit.
"""

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tenants import ratelimit
from tenants.conf import conf
from tenants.models import Tenant

__all__ = ["Charge", "NeverFits", "Policy", "RateLimited", "charge", "charge_tenants", "fits", "policy", "refund_all"]


@dataclass(frozen=True, slots=True)
class Policy:
    """A tenant's window: ``limit`` tasks per ``window`` seconds."""

    limit: int
    window: int


def policy(rate_limit: int | None, rate_window: int | None) -> Policy:
    """The tenant's own limit and window, else the configured defaults."""
    c = conf()
    return Policy(c.API_RATE_LIMIT if rate_limit is None else rate_limit, rate_window or c.API_RATE_WINDOW_SECONDS)


def policies(tenant_ids: Iterable[int]) -> dict[int, tuple[str, Policy]]:
    """Each tenant's slug and policy, in one query."""
    rows = Tenant.objects.filter(pk__in=list(tenant_ids)).values_list("pk", "slug", "rate_limit",
                                                                       "rate_window_seconds")
    return {pk: (slug, policy(limit, window)) for pk, slug, limit, window in rows}


class RateLimited(Exception):
    """The window has no room for ``cost``; nothing was charged."""

    def __init__(self, tenant: str, cost: int, rules: Policy, decision: ratelimit.Decision) -> None:
        super().__init__(f"Rate limit of {rules.limit} tasks per {rules.window} s exceeded; this request costs {cost}.")
        self.tenant = tenant
        self.cost = cost
        self.policy = rules
        self.decision = decision

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.decision.retry_after))


class NeverFits(RateLimited):
    """``cost`` is over the whole window (``limit``): no wait admits it, so it is not the 429 a client
    waits out; the API answers 413 (the request is larger than its tenant may ever send: split it).

    A ``RateLimited`` still, so a caller that knows only that refuses it as before; nothing was charged.
    """

    def __init__(self, tenant: str, cost: int, rules: Policy) -> None:
        decision = ratelimit.Decision(allowed=False, limit=rules.limit, remaining=rules.limit, reset=0.0,
                                      retry_after=float(rules.window), token=None)
        super().__init__(tenant, cost, rules, decision)


def fits(cost: int, rules: Policy, *, tenant: str = "") -> None:
    """Raise ``NeverFits`` if ``cost`` is more than the window could ever hold (charging nothing)."""
    if cost > rules.limit:
        raise NeverFits(tenant, cost, rules)


@dataclass(frozen=True, slots=True)
class Charge:
    """An admitted charge: ``refund()`` gives it back when the work it paid for was not done."""

    tenant_id: int
    policy: Policy
    decision: ratelimit.Decision

    def refund(self) -> None:
        if self.decision.token:
            ratelimit.refund(str(self.tenant_id), self.decision.token)


def charge(tenant_id: int, cost: int, rules: Policy, *, tenant: str = "") -> Charge:
    """Charge ``cost`` to the tenant, or raise ``RateLimited`` (``ratelimit.RateLimiterUnavailable``
    when Redis cannot tell and the policy is to fail closed); ``NeverFits`` first if no window can hold it."""
    fits(cost, rules, tenant=tenant)
    decision = ratelimit.acquire(str(tenant_id), cost, limit=rules.limit, window=rules.window)
    if not decision.allowed:
        raise RateLimited(tenant or str(tenant_id), cost, rules, decision)
    return Charge(tenant_id, rules, decision)


def refund_all(charges: Iterable[Charge]) -> None:
    for c in charges:
        c.refund()


def charge_tenants(costs: Mapping[int, int]) -> list[Charge]:
    """Charge each tenant its cost, all or nothing: on a refusal the charges already taken are refunded."""
    known = policies(costs)
    taken: list[Charge] = []
    try:
        for tenant_id, cost in sorted(costs.items()):
            if cost <= 0 or tenant_id not in known:
                continue  # a tenant deleted meanwhile has nothing left to requeue
            slug, rules = known[tenant_id]
            taken.append(charge(tenant_id, cost, rules, tenant=slug))
    except BaseException:
        refund_all(taken)
        raise
    return taken
