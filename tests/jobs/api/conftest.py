"""Shared fixtures and helpers of the HTTP API tests.

``api`` / ``other_api`` / ``operator_api`` are callers: a tenant, one of its API keys and a
Django test ``Client`` that sends that key. Every caller's tenant gets a generous rate
limit unless a test asks otherwise, and every test starts from clean limiter and key-cache
state (both are process-wide and keyed by ids the database reuses between tests).
``world`` gives the isolation tests two tenants' tasks; ``api_tenant``, ``api_keys`` and
``task_ids`` are the rows the schema tests call the API with.
"""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from jobs.lifecycle import Status
from jobs.models import Task, WorkerProcess
from jobs.streams.slots import KEY_PREFIX as SLOTS_PREFIX
from tenants import keys, ratelimit
from tenants.models import Tenant
from tenants.ratelimit.redis import KEY_PREFIX
from tests.support.api import GENEROUS_LIMIT, Caller, MakeApi
from tests.support.isolation import World


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
                # The limiter's windows and the streams' slots (ids the database reuses between tests).
                stale = [k for prefix in (KEY_PREFIX, SLOTS_PREFIX)
                         for k in client.scan_iter(match=prefix + "*", count=1000)]
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


@pytest.fixture
def world(api: Caller, other_api: Caller) -> World:
    """Tenant A's two tasks and tenant B's six (one in every state), through ``api`` and ``other_api``."""
    return World(api, other_api)


# --- the schema tests' rows: a tenant, its keys, tasks in every status and a live worker


@pytest.fixture
def api_tenant(db: None) -> Tenant:
    # A limit no run reaches: 429s would hide everything else.
    return Tenant.objects.create(name="Schema Co", slug="schema-co", rate_limit=1_000_000_000)


@pytest.fixture
def api_keys(api_tenant: Tenant) -> dict[str, str]:
    keys.forget()
    _, tenant_key = keys.issue(api_tenant, name="schemathesis")
    _, operator_key = keys.issue(api_tenant, name="schemathesis-operator", operator=True)
    return {"tenant": tenant_key, "operator": operator_key}


@pytest.fixture
def task_ids(api_tenant: Tenant) -> list[int]:
    """Tasks of the key's tenant in every status, one of another tenant, and a live worker."""
    now = timezone.now()
    other = Tenant.objects.create(name="Other Co", slug="other-co")
    error = {"at": now.isoformat(), "type": "RuntimeError", "message": "boom", "worker": "host:2:def"}
    rows = [
        Task(tenant=api_tenant, type="noop", status=Status.PENDING, idempotency_key="schema-pending",
             payload={"n": 1, "nested": {"list": [1, "two", None]}}),
        Task(tenant=api_tenant, type="sleep", status=Status.SCHEDULED, run_at=now + timedelta(hours=1),
             payload={"seconds": 1}),
        Task(tenant=api_tenant, type="record", status=Status.RUNNING, attempts=1, worker="host:1:abc",
             started_at=now - timedelta(seconds=3), lease_expires_at=now + timedelta(seconds=20)),
        Task(tenant=api_tenant, type="noop", status=Status.COMPLETED, attempts=1, worker="host:1:abc",
             result={"ok": True}, started_at=now - timedelta(seconds=5), finished_at=now - timedelta(seconds=4)),
        Task(tenant=api_tenant, type="fail", status=Status.FAILED, attempts=2, max_retries=1, worker="host:2:def",
             errors=[{**error, "attempt": 1, "traceback": "Traceback …"}, {**error, "attempt": 2}],
             started_at=now - timedelta(seconds=9), finished_at=now - timedelta(seconds=8)),
        Task(tenant=api_tenant, type="noop", status=Status.CANCELLED, finished_at=now),
        Task(tenant=other, type="noop", status=Status.PENDING),
    ]
    for row in rows:
        row.save()
    WorkerProcess.objects.create(
        id="host:1:abc", instance="host", hostname="host", pid=1, queues="default,bulk", threads=2,
        slots=[
            {"slot": 0, "task_id": rows[2].pk, "type": "record", "tenant_id": api_tenant.pk,
             "started_at": (now - timedelta(seconds=3)).isoformat()},
            {"slot": 1, "task_id": None, "type": None, "tenant_id": None, "started_at": None},
        ],
    )
    return [row.pk for row in rows]
