"""Cost-weighted sliding-window rate limiting per tenant (a batch of N tasks costs N).

With ``REDIS_URL`` every process shares one limit per key through an atomic Lua script
over a sorted-set log plus a running total. Without Redis each process keeps the same
sliding log in memory (so the limit is per process). When Redis is unreachable the
``JOBS_RATE_LIMIT_FAIL_OPEN`` policy decides: allow (default) or raise
:class:`RateLimiterUnavailable`.
"""

import logging
import math
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.retry import Retry

logger = logging.getLogger(__name__)

KEY_PREFIX = "jobs:rl:"
#: Socket timeouts for the limiter's Redis client: a submission must not wait long on it.
REDIS_TIMEOUT_SECONDS = 0.5
#: After a Redis failure, skip Redis for this long and apply the policy directly.
BREAKER_SECONDS = 5.0
#: At most one "Redis unreachable" warning per this many seconds.
WARNING_INTERVAL_SECONDS = 30.0
#: How often the in-memory fallback drops keys whose whole log has expired.
SWEEP_SECONDS = 60.0


@dataclass(frozen=True)
class Decision:
    """The outcome of one :func:`acquire`."""

    allowed: bool
    limit: int  # the window's capacity
    remaining: int  # capacity left after this decision (0 if rejected)
    reset: float  # seconds until the window has fully recovered capacity used so far (>= 0)
    retry_after: float  # when rejected: seconds until `cost` would fit; 0 when allowed
    token: str | None  # identifies the charge, for refund(); None when not charged
    degraded: bool = False  # True when Redis was unreachable and the fail-open/closed policy decided


class RateLimiterUnavailable(Exception):
    """Redis is unreachable and the policy is to fail closed."""


def fail_open() -> bool:
    """Whether to admit requests while Redis is unreachable."""
    from jobs.conf import conf

    return conf().RATE_LIMIT_FAIL_OPEN


# --- Redis ------------------------------------------------------------------------------
#
# Keys: ``jobs:rl:{key}:log`` is a sorted set of charges (score = Redis TIME in ms,
# member = "<cost>:<uuid>", which is also the refund token) and ``jobs:rl:{key}:total``
# the sum of the live members' costs. The braces are a Redis Cluster hash tag, so both
# keys of a tenant live in one slot, as a multi-key script requires. Both keys expire
# when the newest charge leaves the window, so idle tenants leave nothing behind.
#
# Rejection walks the log oldest-first only until enough capacity would have expired;
# every member costs at least 1, so that walk is bounded by the request's own cost.

_ACQUIRE_LUA = """
local log, total_key = KEYS[1], KEYS[2]
local cost, limit, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function cost_of(member)
  return tonumber(string.match(member, '^(%d+):'))
end

-- Drop charges that left the window; each is removed once, so this is amortised.
local freed = 0
local expired = redis.call('ZRANGEBYSCORE', log, '-inf', now - window)
if #expired > 0 then
  for i = 1, #expired do freed = freed + cost_of(expired[i]) end
  redis.call('ZREMRANGEBYSCORE', log, '-inf', now - window)
end

local count = redis.call('ZCARD', log)
local total = 0
if count > 0 then
  local raw = redis.call('GET', total_key)
  if raw then total = tonumber(raw) - freed else total = -1 end
  if total < 0 then
    -- The total was lost (evicted) or is inconsistent: rebuild it from the log.
    total = 0
    local members = redis.call('ZRANGE', log, 0, -1)
    for i = 1, #members do total = total + cost_of(members[i]) end
  end
end

local allowed, retry = 0, 0
if cost <= limit and total + cost <= limit then
  allowed = 1
  if cost > 0 then
    redis.call('ZADD', log, now, ARGV[4])
    total = total + cost
    count = count + 1
  end
elseif cost > limit then
  retry = window
else
  -- Find the charge whose expiry frees enough room for this cost.
  local need, acc, start, found = total + cost - limit, 0, 0, false
  retry = window
  while not found do
    local batch = redis.call('ZRANGE', log, start, start + 63, 'WITHSCORES')
    if #batch == 0 then break end
    for i = 1, #batch, 2 do
      acc = acc + cost_of(batch[i])
      if acc >= need then
        retry = tonumber(batch[i + 1]) + window - now
        found = true
        break
      end
    end
    start = start + 64
  end
end

local reset = 0
if count > 0 then
  local newest = redis.call('ZRANGE', log, -1, -1, 'WITHSCORES')
  reset = tonumber(newest[2]) + window - now
  redis.call('SET', total_key, total, 'PX', reset)
  redis.call('PEXPIRE', log, reset)
else
  redis.call('DEL', total_key)
end
return {allowed, total, reset, retry}
"""

_REFUND_LUA = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  local cost = tonumber(string.match(ARGV[1], '^(%d+):'))
  if redis.call('ZCARD', KEYS[1]) == 0 then
    redis.call('DEL', KEYS[2])
  elseif redis.call('EXISTS', KEYS[2]) == 1 then
    -- DECRBY keeps the key's expiry; a negative result is rebuilt by the next acquire.
    redis.call('DECRBY', KEYS[2], cost)
  end
  return 1
end
return 0
"""


@dataclass
class _Backend:
    """One Redis URL's client, scripts and circuit breaker."""

    url: str
    client: redis.Redis
    acquire: Script
    refund: Script
    lock: threading.Lock = field(default_factory=threading.Lock)
    tripped: bool = False
    down_until: float = 0.0

    def usable(self) -> bool:
        """Whether this call may try Redis (closed breaker, or the one half-open probe)."""
        with self.lock:
            now = time.monotonic()
            if now < self.down_until:
                return False
            if self.tripped:
                # Half-open: this caller probes; the others keep applying the policy meanwhile.
                self.down_until = now + BREAKER_SECONDS
            return True

    def succeeded(self) -> None:
        """Close the breaker."""
        if self.tripped:
            with self.lock:
                self.tripped = False
                self.down_until = 0.0

    def failed(self) -> None:
        """Open the breaker for BREAKER_SECONDS."""
        with self.lock:
            self.tripped = True
            self.down_until = time.monotonic() + BREAKER_SECONDS


_backend: _Backend | None = None
_backend_lock = threading.Lock()
_last_warning = 0.0
_warning_lock = threading.Lock()


def _redis_backend() -> _Backend | None:
    """This process's limiter backend for ``settings.REDIS_URL`` (``None`` without Redis)."""
    global _backend
    url = settings.REDIS_URL
    if not url:
        return None
    backend = _backend
    if backend is not None and backend.url == url:
        return backend
    with _backend_lock:
        if _backend is None or _backend.url != url:
            # No retries: a retried EVALSHA whose first run did execute would charge twice,
            # and retries would make a submission wait on a dead Redis.
            client = redis.Redis.from_url(
                url,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                retry=Retry(NoBackoff(), 0),
            )
            _backend = _Backend(
                url=url,
                client=client,
                acquire=client.register_script(_ACQUIRE_LUA),
                refund=client.register_script(_REFUND_LUA),
            )
        return _backend


def _keys(key: str) -> list[str]:
    """The sorted-set log and the running-total keys of ``key``."""
    return [f"{KEY_PREFIX}{{{key}}}:log", f"{KEY_PREFIX}{{{key}}}:total"]


def _warn(message: str, exc: BaseException) -> None:
    """Log a warning, at most once per WARNING_INTERVAL_SECONDS per process."""
    global _last_warning
    with _warning_lock:
        now = time.monotonic()
        if _last_warning and now - _last_warning < WARNING_INTERVAL_SECONDS:
            return
        _last_warning = now
    logger.warning("%s (%s)", message, exc)


def _new_token(cost: int) -> str:
    """A unique charge id that carries its cost, so a refund knows what to give back."""
    return f"{cost}:{uuid.uuid4().hex}"


def _window_ms(window: float) -> int:
    """The window in whole milliseconds (at least 1), Redis TIME's resolution here."""
    return max(1, math.ceil(window * 1000))


def _unavailable(cost: int, limit: int, window: float, exc: BaseException | None) -> Decision:
    """Apply the fail-open/closed policy without Redis."""
    if cost > limit:
        # Never fits, whatever Redis would say: a plain rejection beats a 503 or an admission.
        return Decision(
            allowed=False, limit=limit, remaining=0, reset=0.0, retry_after=float(window), token=None, degraded=True
        )
    if not fail_open():
        raise RateLimiterUnavailable("rate limiter unavailable: Redis is unreachable") from exc
    # Nothing is recorded, so report an untouched window.
    return Decision(allowed=True, limit=limit, remaining=limit, reset=0.0, retry_after=0.0, token=None, degraded=True)


def _acquire_redis(backend: _Backend, key: str, cost: int, limit: int, window: float) -> Decision:
    """Run the acquire script; RedisError propagates to the caller's policy."""
    token = _new_token(cost)
    reply = backend.acquire(keys=_keys(key), args=[cost, limit, _window_ms(window), token])
    allowed, total, reset_ms, retry_ms = (int(v) for v in reply)
    if allowed:
        return Decision(
            allowed=True, limit=limit, remaining=max(0, limit - total), reset=reset_ms / 1000, retry_after=0.0,
            token=token if cost > 0 else None,
        )
    return Decision(
        allowed=False, limit=limit, remaining=0, reset=reset_ms / 1000, retry_after=retry_ms / 1000, token=None
    )


# --- In-memory fallback -----------------------------------------------------------------


@dataclass
class _Window:
    """One key's sliding log in this process: charges in time order plus the live ones by token."""

    window: float
    log: deque[tuple[float, str]] = field(default_factory=deque)
    live: dict[str, int] = field(default_factory=dict)  # token -> cost; refunded tokens are absent
    total: int = 0

    def trim(self, now: float) -> None:
        """Forget charges that left the window (refunded ones are skipped lazily)."""
        horizon = now - self.window
        while self.log and self.log[0][0] <= horizon:
            _, token = self.log.popleft()
            self.total -= self.live.pop(token, 0)


_windows: dict[str, _Window] = {}
_memory_lock = threading.Lock()
_last_sweep = 0.0


def _acquire_memory(key: str, cost: int, limit: int, window: float) -> Decision:
    """The Redis script's algorithm over this process's memory, under one lock."""
    global _last_sweep
    with _memory_lock:
        now = time.monotonic()
        if now - _last_sweep > SWEEP_SECONDS:
            # Keys of idle tenants would otherwise stay forever.
            _last_sweep = now
            for name, w in list(_windows.items()):
                w.trim(now)
                if not w.live:
                    del _windows[name]
        state = _windows.get(key)
        if state is None:
            state = _windows[key] = _Window(window)
        # A changed window applies from now on, as in Redis.
        state.window = window
        state.trim(now)
        token: str | None = None
        allowed = cost <= limit and state.total + cost <= limit
        retry = 0.0
        if allowed:
            if cost > 0:
                token = _new_token(cost)
                state.log.append((now, token))
                state.live[token] = cost
                state.total += cost
        elif cost > limit:
            retry = float(window)
        else:
            need, acc, retry = state.total + cost - limit, 0, float(window)
            for at, tok in state.log:
                acc += state.live.get(tok, 0)
                if acc >= need:
                    retry = at + window - now
                    break
        newest = next((at for at, tok in reversed(state.log) if tok in state.live), None)
        reset = 0.0 if newest is None else newest + window - now
        if not state.live:
            del _windows[key]
        if allowed:
            return Decision(
                allowed=True, limit=limit, remaining=max(0, limit - state.total), reset=reset, retry_after=0.0,
                token=token,
            )
        return Decision(allowed=False, limit=limit, remaining=0, reset=reset, retry_after=retry, token=None)


def _refund_memory(key: str, token: str) -> None:
    """Give a charge back in this process's memory."""
    with _memory_lock:
        state = _windows.get(key)
        if state is None:
            return
        # Its log entry stays and is skipped when it expires.
        state.total -= state.live.pop(token, 0)
        if not state.live:
            del _windows[key]


# --- Public API -------------------------------------------------------------------------


def acquire(key: str, cost: int, *, limit: int, window: float) -> Decision:
    """Charge ``cost`` against ``key``'s ``limit`` per sliding ``window`` seconds, or reject."""
    if cost < 0 or limit < 0 or window <= 0:
        raise ValueError(f"need cost >= 0, limit >= 0, window > 0 (got {cost}, {limit}, {window})")
    backend = _redis_backend()
    if backend is None:
        return _acquire_memory(key, cost, limit, window)
    if not backend.usable():
        return _unavailable(cost, limit, window, None)
    try:
        decision = _acquire_redis(backend, key, cost, limit, window)
    except redis.RedisError as exc:
        backend.failed()
        _warn("rate limiter: Redis unreachable, " + ("admitting" if fail_open() else "refusing"), exc)
        return _unavailable(cost, limit, window, exc)
    backend.succeeded()
    return decision


def refund(key: str, token: str) -> None:
    """Undo the charge ``token`` (no-op once it expired or was refunded); never raises on Redis trouble."""
    backend = _redis_backend()
    if backend is None:
        _refund_memory(key, token)
        return
    if not backend.usable():
        return
    try:
        backend.refund(keys=_keys(key), args=[token])
    except redis.RedisError as exc:
        # Losing a refund only over-counts until the charge expires: not worth failing for.
        backend.failed()
        _warn("rate limiter: refund lost, Redis unreachable", exc)
        return
    backend.succeeded()
