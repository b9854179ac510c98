"""Cost-weighted sliding-window rate limiting per tenant (a batch of N tasks costs N).

With ``REDIS_URL`` every process shares one limit per key through an atomic Lua script
(:mod:`.redis`) on the shared client of :mod:`jobs.notify.redis`. Without Redis each
process keeps the same sliding log in memory (:mod:`.memory`; the limit is then per
process). When Redis is unreachable, or the shared breaker says so, the
``JOBS_RATE_LIMIT_FAIL_OPEN`` policy decides: allow (default) or raise
:class:`RateLimiterUnavailable`.
"""

import logging

import redis as redis_py

from jobs.notify import redis as shared_redis

from ..conf import conf
from . import redis as on_redis
from .decision import Decision
from .memory import limiter as in_memory

__all__ = ["Decision", "RateLimiterUnavailable", "acquire", "peek", "refund", "reset"]

logger = logging.getLogger(__name__)


class RateLimiterUnavailable(Exception):
    """Redis is unreachable and the policy is to fail closed."""


def fail_open() -> bool:
    """Whether to admit requests while Redis is unreachable."""
    return conf().RATE_LIMIT_FAIL_OPEN


def _unavailable(cost: int, limit: int, window: float, exc: BaseException | None) -> Decision:
    """Apply the fail-open/closed policy without Redis."""
    if cost > limit:
        # Never fits, whatever Redis would say: a plain rejection beats a 503 or an admission. Nothing is
        # known of the window, so it is reported untouched, like an admission's below.
        return Decision(
            allowed=False, limit=limit, remaining=limit, reset=0.0, retry_after=float(window), token=None,
            degraded=True,
        )
    if not fail_open():
        raise RateLimiterUnavailable("rate limiter unavailable: Redis is unreachable") from exc
    # Nothing is recorded, so report an untouched window.
    return Decision(allowed=True, limit=limit, remaining=limit, reset=0.0, retry_after=0.0, token=None, degraded=True)


def acquire(key: str, cost: int, *, limit: int, window: float) -> Decision:
    """Charge ``cost`` against ``key``'s ``limit`` per sliding ``window`` seconds, or reject."""
    if cost < 0 or limit < 0 or window <= 0:
        raise ValueError(f"need cost >= 0, limit >= 0, window > 0 (got {cost}, {limit}, {window})")
    client = shared_redis.client()
    if client is None:
        return in_memory.acquire(key, cost, limit, window)
    if not shared_redis.breaker.usable():
        return _unavailable(cost, limit, window, None)
    try:
        decision = on_redis.acquire(client, key, cost, limit, window)
    except redis_py.RedisError as exc:
        shared_redis.breaker.failed()
        shared_redis.breaker.warn(logger, "rate limiter: Redis unreachable, " + (
            "admitting" if fail_open() else "refusing"), exc)
        return _unavailable(cost, limit, window, exc)
    shared_redis.breaker.succeeded()
    return decision


def peek(key: str, *, limit: int, window: float) -> Decision | None:
    """``key``'s window as it stands, charging nothing (an acquire of cost 0); ``None`` when Redis cannot
    tell, whatever the fail-open policy: a report is not an admission, so there is nothing to decide."""
    client = shared_redis.client()
    if client is None:
        return in_memory.acquire(key, 0, limit, window)
    if not shared_redis.breaker.usable():
        return None
    try:
        decision = on_redis.acquire(client, key, 0, limit, window)
    except redis_py.RedisError as exc:
        shared_redis.breaker.failed()
        shared_redis.breaker.warn(logger, "rate limiter: Redis unreachable, no RateLimit headers", exc)
        return None
    shared_redis.breaker.succeeded()
    return decision


def refund(key: str, token: str) -> None:
    """Undo the charge ``token`` (no-op once it expired or was refunded); never raises on Redis trouble."""
    client = shared_redis.client()
    if client is None:
        in_memory.refund(key, token)
        return
    if not shared_redis.breaker.usable():
        return
    try:
        on_redis.refund(client, key, token)
    except redis_py.RedisError as exc:
        # Losing a refund only over-counts until the charge expires: not worth failing for.
        shared_redis.breaker.failed()
        shared_redis.breaker.warn(logger, "rate limiter: refund lost, Redis unreachable", exc)
        return
    shared_redis.breaker.succeeded()


def reset() -> None:
    """Clear this process's limiter state: in-memory windows and the shared Redis breaker.

    Used by tests and after a settings change; charges held in Redis stay.
    """
    in_memory.reset()
    shared_redis.reset()
