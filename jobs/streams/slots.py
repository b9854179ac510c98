"""How many event streams each API key and each tenant holds open, across every web instance.

A stream takes a *slot* in each of its scopes (its key, its tenant) before it starts, and
gives them back when it ends. With ``REDIS_URL`` a scope is a sorted set on the shared
client (``jobs.notify.redis``): one member per open stream, scored by when its lease
expires (Redis TIME). The stream's heartbeat renews the lease, so the streams of an
instance that was killed (no ``finally`` ran) expire on their own after ``lease_seconds``.
Without Redis — or while the shared breaker says Redis is down — each process counts its
own streams in memory, with the same leases: the cap then holds per process, which is what the embedded
default (one process) needs, and fails safe rather than open when Redis goes away.

The keys of one tenant share a hash tag (``{t<tenant id>}``), so the one script that
checks and takes every scope's slot at once stays in one Redis Cluster slot.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from dataclasses import dataclass, field

import redis as redis_py

from jobs.notify import redis as shared_redis

logger = logging.getLogger(__name__)

KEY_PREFIX = "jobs:sse:"

# KEYS: one sorted set per scope; ARGV[1]: the member, ARGV[2]: the lease (ms), ARGV[2 + i]: KEYS[i]'s cap.
# Returns {0, i, ms until KEYS[i]'s first lease lapses} when KEYS[i] is full, else {1, 0, 0} (every slot taken).
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZCARD', key) >= tonumber(ARGV[2 + i]) then
    local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    return {0, i, tonumber(first[2]) - now}
  end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + lease, ARGV[1])
  redis.call('PEXPIRE', key, lease)
end
return {1, 0, 0}
"""

# Renew (or re-add: a lapsed lease of a live stream) the member's lease in every scope.
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + lease, ARGV[1])
  redis.call('PEXPIRE', key, lease)
end
return 1
"""


@dataclass(frozen=True, slots=True)
class Scope:
    """One thing streams are counted against: ``name`` (``"key"``, ``"tenant"``) and ``id``, at most ``limit``."""

    name: str
    id: int
    limit: int
    tenant_id: int

    @property
    def redis_key(self) -> str:
        return f"{KEY_PREFIX}{{t{self.tenant_id}}}:{self.name}:{self.id}"


@dataclass(frozen=True, slots=True)
class Full:
    """The stream was refused: ``scope`` already holds its ``limit`` streams; retry in ``retry_after`` s."""

    scope: Scope
    retry_after: int


@dataclass(slots=True)
class Lease:
    """The slots one stream holds: renew them on its heartbeat, release them when it ends."""

    scopes: tuple[Scope, ...]
    lease_seconds: float
    member: str = field(default_factory=lambda: uuid.uuid4().hex)
    #: Whether the slots are in Redis (else in this process's count).
    shared: bool = False
    released: bool = False

    @property
    def _keys(self) -> list[str]:
        return [s.redis_key for s in self.scopes]

    @property
    def _lease_ms(self) -> int:
        return max(1, math.ceil(self.lease_seconds * 1000))

    def renew(self) -> None:
        """Push the lease's expiry ``lease_seconds`` ahead (never raises on Redis trouble)."""
        if self.released:
            return
        if not self.shared:
            _local.renew(self)
            return
        if not shared_redis.breaker.usable():
            return
        client = shared_redis.client()
        if client is None:
            return
        try:
            client.register_script(_RENEW)(keys=self._keys, args=[self.member, self._lease_ms])
        except redis_py.RedisError as exc:
            # The lease lapses on its own if Redis stays away: an over-count never outlives it.
            shared_redis.breaker.failed()
            shared_redis.breaker.warn(logger, "event stream: could not renew a stream's slot", exc)
            return
        shared_redis.breaker.succeeded()

    def release(self) -> None:
        """Give the slots back (once; never raises: a lost release expires with the lease)."""
        if self.released:
            return
        self.released = True
        if not self.shared:
            _local.release(self)
            return
        client = shared_redis.client()
        if client is None or not shared_redis.breaker.usable():
            return
        try:
            with client.pipeline(transaction=False) as pipe:
                for key in self._keys:
                    pipe.zrem(key, self.member)
                pipe.execute()
        except redis_py.RedisError as exc:
            shared_redis.breaker.failed()
            shared_redis.breaker.warn(logger, "event stream: could not release a stream's slot", exc)
            return
        shared_redis.breaker.succeeded()


class LocalSlots:
    """This process's count of open streams per scope (no Redis, or Redis down), with the same leases:
    a slot whose release was lost (a stream cancelled while it was being taken) lapses too."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        #: scope → member → when its lease lapses (``time.monotonic()``)
        self.held: dict[tuple[str, int], dict[str, float]] = {}

    def acquire(self, lease: Lease, retry_after: int) -> Full | None:
        now = time.monotonic()
        with self.lock:
            for scope in lease.scopes:
                members = self.held.get((scope.name, scope.id), {})
                for member in [m for m, until in members.items() if until <= now]:
                    del members[member]
                if len(members) >= scope.limit:
                    return Full(scope, retry_after)
            self._hold(lease, now)
        return None

    def _hold(self, lease: Lease, now: float) -> None:
        for scope in lease.scopes:
            self.held.setdefault((scope.name, scope.id), {})[lease.member] = now + lease.lease_seconds

    def renew(self, lease: Lease) -> None:
        with self.lock:
            self._hold(lease, time.monotonic())

    def release(self, lease: Lease) -> None:
        with self.lock:
            for scope in lease.scopes:
                members = self.held.get((scope.name, scope.id))
                if members is not None:
                    members.pop(lease.member, None)
                    if not members:
                        del self.held[(scope.name, scope.id)]

    def reset(self) -> None:
        with self.lock:
            self.held.clear()


_local = LocalSlots()


def acquire(scopes: tuple[Scope, ...], lease_seconds: float) -> Lease | Full:
    """Take one slot in every scope, or none (``Full``: which scope is at its cap). Synchronous (Redis I/O)."""
    lease = Lease(scopes, lease_seconds)
    # A full slot frees when a stream ends (any moment) or, at the latest, when a dead instance's lease lapses.
    retry_after = max(1, math.ceil(lease_seconds))
    client = shared_redis.client()
    if client is not None and shared_redis.breaker.usable():
        try:
            allowed, index, wait_ms = (int(v) for v in client.register_script(_ACQUIRE)(
                keys=lease._keys, args=[lease.member, lease._lease_ms, *(s.limit for s in scopes)]))
        except redis_py.RedisError as exc:
            shared_redis.breaker.failed()
            shared_redis.breaker.warn(logger, "event stream: Redis unreachable, counting streams per process", exc)
        else:
            shared_redis.breaker.succeeded()
            if not allowed:
                return Full(scopes[index - 1], max(1, math.ceil(wait_ms / 1000)))
            lease.shared = True
            return lease
    full = _local.acquire(lease, retry_after)
    return lease if full is None else full


def reset() -> None:
    """Forget this process's in-memory count (tests)."""
    _local.reset()
