"""Configuration: one typed section per app, on one loader, with named defaults.

Every key can be overridden in ``settings.JOBS`` (e.g. ``JOBS = {"LEASE_SECONDS": 60}``)
and in the environment as ``JOBS_<KEY>`` (``settings.JOBS_ENV`` holds those, read by
settings.py, the only reader of the environment). Keys are flat: a section's fields are
its keys. Each app declares a :class:`Section` (``EngineConf`` here, ``tenants.conf``…),
reads it through :func:`current`, validates it with a system check (:func:`problems`)
and imports it from its ``AppConfig.ready()`` (so that its keys are known, not "unknown").
"""

import json
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from django.apps import apps
from django.conf import settings


class Section:
    """Base of an app's configuration dataclass (``@dataclass(frozen=True, slots=True)``)."""

    __slots__ = ()
    #: Keys that must be above zero (a zero would make a loop spin or a limit refuse everything).
    positive: ClassVar[tuple[str, ...]] = ()
    #: Every section defined so far, so that a JOBS key no section owns can be reported.
    registry: ClassVar[list[type["Section"]]] = []

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # @dataclass(slots=True) recreates the class: register each name once.
        Section.registry[:] = [s for s in Section.registry if s.__qualname__ != cls.__qualname__
                               or s.__module__ != cls.__module__]
        Section.registry.append(cls)

    def validate(self) -> list[str]:
        """Return a message for each value that cannot work (subclasses add their own rules)."""
        problems = []
        for f in fields(self):  # type: ignore[arg-type]  # every subclass is a dataclass
            value = getattr(self, f.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
                problems.append(f"JOBS['{f.name}'] must not be negative (got {value!r})")
        problems += [f"JOBS['{name}'] must be positive" for name in self.positive if getattr(self, name) <= 0]
        return problems

    @classmethod
    def names(cls) -> set[str]:
        """The keys this section owns."""
        return {f.name for f in fields(cls)}  # type: ignore[arg-type]

    @classmethod
    def default(cls, name: str) -> Any:
        """The built-in default of key ``name`` (what model fields declare, so no value is typed twice)."""
        return next(f.default for f in fields(cls) if f.name == name)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class EngineConf(Section):
    positive = ("POLL_SECONDS", "PROMOTE_SECONDS", "RESCUE_SECONDS", "DRR_QUANTUM", "COMPLETE_BATCH",
                "DRR_COST_FLOOR_SECONDS", "DRR_UNKNOWN_COST_SECONDS",
                "CANCEL_CHECK_SECONDS", "WAKEUP_RETRY_SECONDS", "ERROR_HISTORY", "MAX_WRITE_BYTES",
                "WEBHOOK_TIMEOUT_SECONDS")

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
    #: Deficit Round Robin: tasks a weight-1 tenant may take per round (with DRR_BY_TIME, that many
    #: typical tasks' worth of worker time: the median expected cost of the tenants in the ring).
    DRR_QUANTUM: int = 2
    #: Charge tenants the execution time their tasks use (a moving average per type), not one per task.
    DRR_BY_TIME: bool = True
    #: The least a task is charged, seconds: a no-op still costs a claim and a write.
    DRR_COST_FLOOR_SECONDS: float = 0.001
    #: What a type never seen by this process is assumed to cost at claim (at least the median of
    #: the known types), seconds: pessimistic, so a slow new type is not hoarded; its runs' real
    #: times are charged when they finish.
    DRR_UNKNOWN_COST_SECONDS: float = 1.0
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
    #: How long a process trusts the pauses it read (a pause or resume reaches every claim within it), seconds.
    PAUSE_CACHE_SECONDS: float = 0.5
    #: How often the maintenance loop unblocks tasks whose key has free slots that no run's end
    #: announced (a safety net: runs' ends unblock at once), seconds.
    UNBLOCK_SWEEP_SECONDS: float = 5.0
    # --- end of worker runtime internals ---
    #: Finished tasks older than this are pruned (seconds; 0 disables pruning).
    RETENTION_SECONDS: int = 7 * 24 * 3600
    #: Rows deleted per prune statement.
    PRUNE_BATCH: int = 1000
    #: How often workers prune automatically, seconds.
    PRUNE_SECONDS: float = 300.0
    #: Graceful shutdown: how long running tasks may take to finish, seconds.
    DRAIN_SECONDS: float = 30.0
    #: Runs of one task that may be lost with their worker (crashed, lease lapsed) before it is dead-lettered.
    MAX_LOST: int = 3
    #: Runs of one task that may be cut off by a drain (still running when DRAIN_SECONDS ended) and
    #: handed back uncharged; the next one is charged as a failed attempt, so no task loops forever.
    MAX_INTERRUPTED: int = 2
    #: A task keeps its first error entry and this many of the latest (``Task.errors_dropped`` counts the rest).
    ERROR_HISTORY: int = 20
    #: Largest accepted payload, bytes of JSON.
    MAX_PAYLOAD_BYTES: int = 64 * 1024
    #: Largest result a handler may return, bytes of JSON (a larger one fails the attempt).
    MAX_RESULT_BYTES: int = 64 * 1024
    #: Largest UPDATE the completer and the rescue send, bytes of values (estimated): a batch is cut
    #: there. Keep it well below the server's max_allowed_packet (MariaDB's default is 16 MiB).
    MAX_WRITE_BYTES: int = 4 * 1024 * 1024
    #: Largest bulk enqueue, tasks.
    MAX_BATCH: int = 1000
    #: The most ``max_retries`` an API caller may ask for, for types that set no ``max_retries_cap``
    #: (Python and the CLI may ask up to ``jobs.bounds.MAX_RETRIES``).
    MAX_RETRIES_CAP: int = 25
    #: Register the demo task types (noop, sleep, fail, the seed's simulated workloads): ``None`` is
    #: "unless settings.PRODUCTION" (or with JOBS['DEMO_MODE'] on); 1/0 force it (``JOBS_DEMO_TYPES=1``).
    DEMO_TYPES: bool | None = None
    #: Live-stream events are kept this long, seconds (a reconnect can replay what it missed within it).
    EVENT_RETENTION_SECONDS: int = 3600
    #: Recurring tasks defined in settings: ``{name: {"tenant", "type", "cron" | "every", …}}``, synced
    #: when a worker starts (settings only; ``docs/SCHEDULES.md``). None: none.
    SCHEDULES: Any = None
    #: How often each worker instance looks for due schedule ticks, seconds.
    SCHEDULE_SECONDS: float = 1.0
    #: With ``missed="skip"``, a tick this late still fires (later ones count as missed), seconds.
    SCHEDULE_GRACE_SECONDS: float = 30.0
    #: Ticks kept per schedule (the console's recent runs); older ones are pruned.
    SCHEDULE_TICKS_KEPT: int = 100
    #: Audit entries older than this are pruned (seconds; 0 keeps them forever).
    AUDIT_RETENTION_SECONDS: int = 90 * 24 * 3600
    #: Target ids kept per audit entry (``counts`` has the totals).
    AUDIT_MAX_IDS: int = 1000
    #: Tasks a background bulk action changes per transaction.
    BULK_BATCH: int = 500
    #: Webhook targets on private, loopback, link-local, multicast or reserved addresses: ``None`` is
    #: "refused under settings.PRODUCTION, allowed otherwise" (no SSRF); 1/0 force it (docs/WEBHOOKS.md).
    WEBHOOK_ALLOW_PRIVATE: bool | None = None
    #: One delivery's connect-and-answer time, seconds; past it the attempt fails (and is retried).
    WEBHOOK_TIMEOUT_SECONDS: float = 10.0
    #: How long a process trusts its list of tenants with active endpoints, seconds: an endpoint
    #: created on another host hears of outcomes written at most this long after its creation.
    WEBHOOK_CACHE_SECONDS: float = 2.0

    def validate(self) -> list[str]:
        """Return a message for each value that cannot work."""
        problems = Section.validate(self)
        if not 1 <= self.DEFAULT_PRIORITY <= 5:
            problems.append("JOBS['DEFAULT_PRIORITY'] must be between 1 and 5")
        if self.HEARTBEAT_SECONDS <= 0 or self.HEARTBEAT_SECONDS * 2 > self.LEASE_SECONDS:
            problems.append("JOBS['HEARTBEAT_SECONDS'] must be positive and at most half of LEASE_SECONDS")
        if self.MAX_RESULT_BYTES > self.MAX_WRITE_BYTES:
            problems.append("JOBS['MAX_RESULT_BYTES'] must be at most MAX_WRITE_BYTES (such a result could never be "
                            "written)")
        if self.WAKEUP_RETRY_MAX_SECONDS < self.WAKEUP_RETRY_SECONDS:
            problems.append("JOBS['WAKEUP_RETRY_MAX_SECONDS'] must be at least WAKEUP_RETRY_SECONDS")
        return problems


def _coerce(kind: Any, raw: str) -> Any:
    if kind is bool:
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if kind is type(None):  # the optional keys (default None): counts, or JSON (SCHEDULES); "" or "none" keeps None
        text = raw.strip()
        if text.lower() in {"", "none"}:
            return None
        return json.loads(text) if text[:1] in "{[" else int(text)
    return int(raw) if kind is int else float(raw) if kind is float else raw


def load[S: Section](section: type[S]) -> S:
    """Build ``section`` from its defaults, ``JOBS_<KEY>`` environment values, then ``settings.JOBS``.

    Raises ValueError for a value that does not parse and, once the apps are ready (every
    app's sections are imported by then), for a ``settings.JOBS`` key no section owns.
    """
    if apps.ready:
        unknown = unknown_keys()
        if unknown:
            raise ValueError(f"unknown JOBS settings: {', '.join(sorted(unknown))}")
    return _build(section)


def _build[S: Section](section: type[S]) -> S:
    values: dict[str, Any] = {}
    environment = getattr(settings, "JOBS_ENV", {}) or {}
    overrides = getattr(settings, "JOBS", {}) or {}
    for f in fields(section):  # type: ignore[arg-type]  # every section is a dataclass
        if f.name in environment:
            values[f.name] = _coerce(type(f.default), environment[f.name])
        if f.name in overrides:
            values[f.name] = overrides[f.name]
    return section(**values)


def problems(section: type[Section]) -> list[str]:
    """What a system check reports about ``section``: values that do not parse or cannot work.

    Unknown keys are reported once, by the engine's check (:func:`unknown_keys`).
    """
    try:
        return _build(section).validate()
    except (TypeError, ValueError) as exc:
        return [f"Invalid JOBS setting: {exc}"]


def unknown_keys() -> set[str]:
    """Keys of ``settings.JOBS`` that no section owns (typos; environment values are not checked)."""
    known = set().union(*(s.names() for s in Section.registry))
    return set(getattr(settings, "JOBS", {}) or {}) - known


_cached: dict[type[Section], Section] = {}


def current[S: Section](section: type[S]) -> S:
    """Return ``section`` as configured now (cached until a setting changes)."""
    found = _cached.get(section)
    if found is None:
        found = _cached[section] = load(section)
    return found  # type: ignore[return-value]  # the cache maps each section to its own instance


def conf() -> EngineConf:
    """Return the engine's configuration (cached until a setting changes)."""
    return current(EngineConf)


def reset_conf(**_: Any) -> None:
    """Forget every cached section (connected to ``setting_changed``)."""
    _cached.clear()
