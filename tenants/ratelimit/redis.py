"""The limiter on Redis: one atomic Lua script per call, so every process shares one limit per key.

Keys: ``jobs:rl:{key}:log`` is a sorted set of charges (score = Redis TIME in ms,
member = "<cost>:<uuid>", which is also the refund token) and ``jobs:rl:{key}:total``
the sum of the live members' costs. The braces are a Redis Cluster hash tag, so both
keys of a tenant live in one slot, as a multi-key script requires. Both keys expire
when the newest charge leaves the window, so idle tenants leave nothing behind.

Rejection walks the log oldest-first only until enough capacity would have expired;
every member costs at least 1, so that walk is bounded by the request's own cost.
The shared client never retries (settings): a retried EVALSHA whose first run did
execute would charge twice. RedisError propagates to the caller's fail-open/closed policy.
"""

import hashlib
import math
from importlib.resources import files
from typing import Any

import redis
from redis.exceptions import NoScriptError

from .decision import Decision, new_token

KEY_PREFIX = "jobs:rl:"


class LuaScript:
    """A script shipped beside this module, run by its SHA (loaded into Redis on first use)."""

    def __init__(self, name: str) -> None:
        self.source = files("tenants.ratelimit").joinpath(name).read_bytes()
        self.sha = hashlib.sha1(self.source).hexdigest()  # noqa: S324 — Redis names scripts by SHA-1

    def __call__(self, client: redis.Redis, keys: list[str], args: list[Any]) -> Any:
        try:
            return client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            # Not run (a new or flushed server): loading it and running it once more cannot charge twice.
            client.script_load(self.source)
            return client.evalsha(self.sha, len(keys), *keys, *args)


ACQUIRE = LuaScript("acquire.lua")
REFUND = LuaScript("refund.lua")


def keys_of(key: str) -> list[str]:
    """The sorted-set log and the running-total keys of ``key``."""
    return [f"{KEY_PREFIX}{{{key}}}:log", f"{KEY_PREFIX}{{{key}}}:total"]


def window_ms(window: float) -> int:
    """The window in whole milliseconds (at least 1), Redis TIME's resolution here."""
    return max(1, math.ceil(window * 1000))


def acquire(client: redis.Redis, key: str, cost: int, limit: int, window: float) -> Decision:
    """Run the acquire script."""
    token = new_token(cost)
    reply = ACQUIRE(client, keys_of(key), [cost, limit, window_ms(window), token])
    allowed, total, reset_ms, retry_ms = (int(v) for v in reply)
    if allowed:
        return Decision(
            allowed=True, limit=limit, remaining=max(0, limit - total), reset=reset_ms / 1000, retry_after=0.0,
            token=token if cost > 0 else None,
        )
    # What is left, not 0: a smaller request may still fit.
    return Decision(allowed=False, limit=limit, remaining=max(0, limit - total), reset=reset_ms / 1000,
                    retry_after=retry_ms / 1000, token=None)


def refund(client: redis.Redis, key: str, token: str) -> None:
    """Run the refund script (a no-op once the charge expired or was refunded)."""
    REFUND(client, keys_of(key), [token])
