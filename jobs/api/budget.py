"""What a client is told of its rate limit: the window's state on every authenticated answer, and
the refusal of a request no window can ever hold.

``RateLimitHeaders`` (a middleware, ``engine_site.settings``) adds the RateLimit headers to every
answer of an authenticated API request that did not already get them from a charge: the tenant's
submission window as it stands, read without charging (``tenants.ratelimit.peek``: a cost-0 acquire,
one Redis call or a look at this process's memory). Collection reads keep the headers of the read
budget they were charged against (``jobs.api.reads``). When Redis cannot tell, no headers are sent.

A request that costs more than its tenant's whole window would get a 429 whose ``Retry-After`` no
wait satisfies; ``refuse_never_fits`` answers it 413 instead (the request is too large for the limit:
split it), naming the limit and the cost, before anything is charged.
"""

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponseBase
from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request

from tenants import ratelimit
from tenants.keys import VerifiedKey

from ..services import charging
from . import scope
from .scope import key_of, rate_headers

__all__ = ["REPLAYED", "RateLimitHeaders", "refuse_never_fits", "response_headers", "window_headers"]

#: The header on every answer that repeats an earlier one for its idempotency key.
REPLAYED = {"Idempotent-Replayed": "true"}


def window_headers(key: VerifiedKey) -> dict[str, str]:
    """The RateLimit headers of ``key``'s tenant's submission window, charging nothing ({} if unknown)."""
    rules = charging.policy(key.rate_limit, key.rate_window)
    decision = ratelimit.peek(str(key.tenant_id), limit=rules.limit, window=rules.window)
    return {} if decision is None else rate_headers(decision, rules.limit, rules.window)


def refuse_never_fits(request: Request, cost: int, *, field: str | None = None) -> None:
    """413 if ``cost`` is more than the key's tenant may submit in a whole window (nothing charged)."""
    key = key_of(request)
    rules = charging.policy(key.rate_limit, key.rate_window)
    try:
        charging.fits(cost, rules, tenant=key.tenant_slug)
    except charging.NeverFits:
        raise scope.never_fits(cost, rules, key.tenant_slug, field=field) from None


class RateLimitHeaders:
    """Django middleware: the window's RateLimit headers on authenticated API answers that lack them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        # DRF leaves the verified key on the Django request too (Request.auth's setter).
        key = getattr(request, "auth", None)
        if isinstance(key, VerifiedKey) and "RateLimit-Limit" not in response:
            for name, value in window_headers(key).items():
                response[name] = value
        return response


_RATE = {
    "RateLimit-Limit": "Tasks the window admits (the read budget's units on collection reads).",
    "RateLimit-Remaining": "What is left of it now; a rejected request took nothing.",
    "RateLimit-Reset": "Seconds until the whole window is free again (0 when nothing is charged).",
    "RateLimit-Policy": "The window: `<limit>;w=<seconds>`.",
}


def response_headers(*, retry: tuple[int, ...] = (429, 503), location: tuple[int, ...] = (),
                     replayed: tuple[int, ...] = ()) -> list[Any]:
    """The schema's response headers of an operation: RateLimit-* on every answer, ``Retry-After`` on
    ``retry``, ``Location`` and ``Idempotent-Replayed`` where they are sent."""
    out: list[Any] = [OpenApiParameter(name, int if name != "RateLimit-Policy" else str, OpenApiParameter.HEADER,
                                       description=text, response=True) for name, text in _RATE.items()]
    out.append(OpenApiParameter("Retry-After", int, OpenApiParameter.HEADER, response=list(retry),
                                description="Seconds to wait before trying again."))
    if location:
        out.append(OpenApiParameter("Location", str, OpenApiParameter.HEADER, response=list(location),
                                    description="The new task's URL."))
    if replayed:
        out.append(OpenApiParameter("Idempotent-Replayed", str, OpenApiParameter.HEADER, response=list(replayed),
                                    description="`true`: the answer repeats the first one for this "
                                                "Idempotency-Key; nothing new was created or charged."))
    return out
