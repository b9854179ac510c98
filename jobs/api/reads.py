"""The read budget: collection reads (task lists, analytics) cost a little against a per-key window.

Submissions are charged per tenant (``scope.admit``); reads are charged per API key, in their
own namespace of the same limiter (``read:<key prefix>``), so browsing never eats into what a
tenant may enqueue and one leaked or looping key cannot starve the tenant's other keys.
Single-task reads (``GET /api/tasks/{id}``, ``/why``) are free: a primary-key lookup costs
less than the limiter's own round trip.
"""

import math

from rest_framework.request import Request

from tenants import ratelimit

from .conf import api_conf
from .errors import Problem
from .scope import key_of, limiter_unavailable, rate_headers


def charge(request: Request, cost: int) -> dict[str, str]:
    """Charge ``cost`` against the key's read budget: the headers to send, or 429 (503 if it cannot tell)."""
    c = api_conf()
    limit, window = c.READ_RATE_LIMIT, c.READ_RATE_WINDOW_SECONDS
    try:
        decision = ratelimit.acquire(f"read:{key_of(request).prefix}", cost, limit=limit, window=window)
    except ratelimit.RateLimiterUnavailable:
        raise limiter_unavailable() from None
    headers = rate_headers(decision, limit, window)
    if not decision.allowed:
        retry = max(1, math.ceil(decision.retry_after))
        raise Problem(
            429, f"Read rate limit of {limit} per {window} s exceeded for this key; this request costs {cost}.",
            kind="rate-limited", headers={**headers, "Retry-After": str(retry)}, extra={"retry_after": retry},
        )
    return headers
