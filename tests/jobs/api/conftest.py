"""Shared fixtures and helpers of the HTTP API tests.

``api`` / ``other_api`` / ``operator_api`` are callers: a tenant, one of its API keys and a
Django test ``Client`` that sends that key. Every caller's tenant gets a generous rate
limit unless a test asks otherwise, and every test starts from clean limiter and key-cache
state (both are process-wide and keyed by ids the database reuses between tests).
"""

from collections.abc import Iterator
from typing import Any

import pytest

from tenants import keys, ratelimit
from tenants.models import Tenant
from tenants.ratelimit.redis import KEY_PREFIX
from tests.support.api import GENEROUS_LIMIT, Caller, MakeApi


@pytest.fixture(autouse=True)
def clean_api_state(servers: dict[str, Any]) -> Iterator[None]:
    """Forget rate-limit charges, cached key verifications and last-used marks around each test."""

    def clean() -> None:
        keys.reset()
        # A breaker tripped by another test must not decide this one's admissions.
        ratelimit.reset()
        if servers["redis_url"]:
            import redis

            client = redis.Redis.from_url(servers["redis_url"])
            try:
                stale = list(client.scan_iter(match=KEY_PREFIX + "*", count=1000))
                if stale:
                    client.delete(*stale)
            finally:
                client.close()

    clean()
    yield
    clean()


@pytest.fixture
def make_api(db: None) -> MakeApi:
    """``make_api(slug, operator=False, rate_limit=GENEROUS_LIMIT, rate_window=None)`` → a Caller."""

    def make(slug: str, *, operator: bool = False, rate_limit: int | None = GENEROUS_LIMIT,
             rate_window: int | None = None, scheme: str = "x-api-key") -> Caller:
        tenant = Tenant.objects.filter(slug=slug).first() or Tenant.objects.create(
            name=slug.title(), slug=slug, rate_limit=rate_limit, rate_window_seconds=rate_window,
        )
        return Caller(tenant, operator=operator, scheme=scheme)

    return make


@pytest.fixture
def api(make_api: MakeApi) -> Caller:
    """Tenant A (``acme``) through a tenant key."""
    return make_api("acme")


@pytest.fixture
def other_api(make_api: MakeApi) -> Caller:
    """Tenant B (``globex``) through a tenant key."""
    return make_api("globex")


@pytest.fixture
def operator_api(make_api: MakeApi) -> Caller:
    """An operator key of its own tenant (``ops``)."""
    return make_api("ops", operator=True)


@pytest.fixture
def demo_mode(settings: Any) -> None:
    settings.JOBS = {**settings.JOBS, "DEMO_MODE": True}
