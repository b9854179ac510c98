"""Tenant configuration: API keys and the rate limiter, on the engine's ``JOBS`` loader.

Keys keep their ``JOBS`` names (``JOBS = {"API_RATE_LIMIT": 50_000}``, ``JOBS_API_RATE_LIMIT``
in the environment); a tenant's own limit and window, when set, win over these defaults.
Validated by the system check ``tenants.E001``.
"""

from dataclasses import dataclass

from jobs.conf import Section, current


@dataclass(frozen=True, slots=True)
class TenantsConf(Section):
    positive = ("API_RATE_WINDOW_SECONDS",)

    #: API submissions accepted per tenant per window (a batch of N costs N); per tenant in the admin.
    API_RATE_LIMIT: int = 10_000
    #: Length of the rate limiter's sliding window, seconds.
    API_RATE_WINDOW_SECONDS: int = 60
    #: Redis unreachable: admit (True, with a warning) or answer 503 (False).
    RATE_LIMIT_FAIL_OPEN: bool = True
    #: How often the in-memory limiter (no Redis) drops the windows of idle tenants, seconds.
    RATE_LIMIT_SWEEP_SECONDS: float = 60.0
    #: Seconds a verified API key is trusted without a query (revocation delay).
    API_KEY_CACHE_SECONDS: float = 10.0
    #: The concurrency cap (``Tenant.max_running``) a new tenant starts with; None: no cap.
    DEFAULT_MAX_RUNNING: int | None = None

    def validate(self) -> list[str]:
        problems = Section.validate(self)  # slots=True dataclasses break zero-argument super()
        cap = self.DEFAULT_MAX_RUNNING
        if cap is not None and (type(cap) is not int or cap < 1):
            problems.append(f"JOBS['DEFAULT_MAX_RUNNING'] must be None or a whole number of at least 1 (got {cap!r})")
        return problems


def conf() -> TenantsConf:
    """Return the tenant configuration (cached until a setting changes)."""
    return current(TenantsConf)


def default_max_running() -> int | None:
    """``Tenant.max_running``'s default: read at creation, so every way of creating a tenant gets it."""
    return conf().DEFAULT_MAX_RUNNING
