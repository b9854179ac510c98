"""Engine configuration: one typed place, with named defaults.

Every key can be overridden in ``settings.JOBS`` (e.g. ``JOBS = {"LEASE_SECONDS": 60}``)
and most in the environment as ``JOBS_<KEY>``. Values are validated by the system
check ``jobs.E002`` at start-up.
"""

import os
from dataclasses import dataclass, fields
from typing import Any

from django.conf import settings


@dataclass(frozen=True, slots=True)
class JobsConf:
    #: Queue used when an enqueue names none.
    DEFAULT_QUEUE: str = "default"
    #: Priority used when an enqueue names none (1 lowest … 5 most urgent).
    DEFAULT_PRIORITY: int = 3
    #: Retries after the first run (3 → up to 4 runs).
    DEFAULT_MAX_RETRIES: int = 3
    #: Per-run timeout, seconds, for types that set none.
    DEFAULT_TIMEOUT: int = 300
    #: First retry delay, seconds; doubles every attempt, with jitter.
    RETRY_BASE_DELAY: float = 2.0
    #: Upper bound of one retry delay, seconds.
    RETRY_MAX_DELAY: float = 3600.0
    #: A running task's lease; renewed by the heartbeat, rescued when it lapses.
    LEASE_SECONDS: float = 20.0
    #: How often a worker process renews its leases and checks cancellations.
    HEARTBEAT_SECONDS: float = 4.0
    #: How often the rescuer looks for lapsed leases and dead worker processes.
    RESCUE_SECONDS: float = 5.0
    #: Poll interval of an idle dispatcher (the fallback behind wake-ups).
    POLL_SECONDS: float = 1.0
    #: How often due scheduled tasks are promoted to pending.
    PROMOTE_SECONDS: float = 0.5
    #: The completer writes when this many outcomes are waiting…
    COMPLETE_BATCH: int = 500
    #: …or when the oldest has waited this long, seconds.
    COMPLETE_FLUSH_SECONDS: float = 0.005
    #: Extra tasks a process may claim per thread while its tasks are fast (under FAST_TASK_SECONDS):
    #: one claim round-trip then feeds several runs. Slow tasks are never hoarded.
    PREFETCH_PER_THREAD: int = 15
    FAST_TASK_SECONDS: float = 0.05
    #: Deficit Round Robin: tasks a weight-1 tenant may take per round.
    DRR_QUANTUM: int = 2
    #: A process with this many threads abandoned to timeouts is recycled.
    MAX_ABANDONED_THREADS: int = 8
    # --- Worker runtime internals (were module constants of jobs.worker) ---
    #: The longest a dispatcher trusts its cached list of tenants with ready work, seconds.
    READY_CACHE_SECONDS: float = 0.5
    #: How long tenant weights and slugs are cached by a worker, seconds.
    TENANT_CACHE_SECONDS: float = 10.0
    #: How often running tasks are checked for a cancellation request when no wake-up
    #: arrives (a cancel announcement triggers a check at once), seconds.
    CANCEL_CHECK_SECONDS: float = 1.0
    #: The wake-up listener reconnects to Redis after this many seconds, doubling each failure…
    WAKEUP_RETRY_SECONDS: float = 0.5
    #: …up to this many.
    WAKEUP_RETRY_MAX_SECONDS: float = 10.0
    # --- end of worker runtime internals ---
    #: Finished tasks older than this are pruned (seconds; 0 disables pruning).
    RETENTION_SECONDS: int = 7 * 24 * 3600
    #: Rows deleted per prune statement.
    PRUNE_BATCH: int = 1000
    #: How often workers prune automatically, seconds.
    PRUNE_SECONDS: float = 300.0
    #: Graceful shutdown: how long running tasks may take to finish, seconds.
    DRAIN_SECONDS: float = 30.0
    #: Largest accepted payload, bytes of JSON.
    MAX_PAYLOAD_BYTES: int = 64 * 1024
    #: Largest bulk enqueue, tasks.
    MAX_BATCH: int = 1000
    #: API submissions accepted per tenant per window (a batch of N costs N); per tenant in the admin.
    API_RATE_LIMIT: int = 10_000
    #: Length of the rate limiter's sliding window, seconds.
    API_RATE_WINDOW_SECONDS: int = 60
    #: Redis unreachable: admit (True, with a warning) or answer 503 (False).
    RATE_LIMIT_FAIL_OPEN: bool = True
    #: Seconds a verified API key is trusted without a query (revocation delay).
    API_KEY_CACHE_SECONDS: float = 10.0
    #: Largest accepted request body, bytes (413 above it).
    API_MAX_BODY_BYTES: int = 16 * 1024 * 1024
    #: Live-stream events are kept this long, seconds (a reconnect can replay what it missed within it).
    EVENT_RETENTION_SECONDS: int = 3600
    #: Seconds between ": heartbeat" comments on the live streams.
    SSE_HEARTBEAT_SECONDS: float = 15.0
    #: Seconds between checks that an open API stream's key is still valid.
    SSE_REVERIFY_SECONDS: float = 60.0
    #: Enables POST /api/demo/seed and /api/demo/clear (operator keys only).
    DEMO_MODE: bool = False

    def validate(self) -> list[str]:
        """Return a message for each value that cannot work."""
        problems = []
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
                problems.append(f"JOBS['{f.name}'] must not be negative (got {value!r})")
        if not 1 <= self.DEFAULT_PRIORITY <= 5:
            problems.append("JOBS['DEFAULT_PRIORITY'] must be between 1 and 5")
        if self.HEARTBEAT_SECONDS <= 0 or self.HEARTBEAT_SECONDS * 2 > self.LEASE_SECONDS:
            problems.append("JOBS['HEARTBEAT_SECONDS'] must be positive and at most half of LEASE_SECONDS")
        for name in ("POLL_SECONDS", "PROMOTE_SECONDS", "RESCUE_SECONDS", "DRR_QUANTUM", "COMPLETE_BATCH"):
            if getattr(self, name) <= 0:
                problems.append(f"JOBS['{name}'] must be positive")
        # Worker runtime internals: zero would make a thread spin.
        for name in ("CANCEL_CHECK_SECONDS", "WAKEUP_RETRY_SECONDS"):
            if getattr(self, name) <= 0:
                problems.append(f"JOBS['{name}'] must be positive")
        if self.WAKEUP_RETRY_MAX_SECONDS < self.WAKEUP_RETRY_SECONDS:
            problems.append("JOBS['WAKEUP_RETRY_MAX_SECONDS'] must be at least WAKEUP_RETRY_SECONDS")
        return problems


def _coerce(kind: Any, raw: str) -> Any:
    if kind is bool:
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    return int(raw) if kind is int else float(raw) if kind is float else raw


def get_conf() -> JobsConf:
    """Build the configuration from defaults, the environment and ``settings.JOBS``."""
    values: dict[str, Any] = {}
    overrides = getattr(settings, "JOBS", {}) or {}
    for f in fields(JobsConf):
        kind = type(f.default)
        env = os.environ.get(f"JOBS_{f.name}")
        if env is not None:
            values[f.name] = _coerce(kind, env)
        if f.name in overrides:
            values[f.name] = overrides[f.name]
    unknown = set(overrides) - {f.name for f in fields(JobsConf)}
    if unknown:
        raise ValueError(f"unknown JOBS settings: {', '.join(sorted(unknown))}")
    return JobsConf(**values)


_cached: JobsConf | None = None


def conf() -> JobsConf:
    """Return the current configuration (cached until a setting changes)."""
    global _cached
    if _cached is None:
        _cached = get_conf()
    return _cached


def reset_conf(**_: Any) -> None:
    """Forget the cached configuration (connected to ``setting_changed``)."""
    global _cached
    _cached = None
