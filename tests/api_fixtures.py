"""Shared fixtures and helpers of the HTTP API tests (imported by the tests/test_api*.py modules).

``api`` / ``other_api`` / ``operator_api`` are callers: a tenant, one of its API keys and a
Django test ``Client`` that sends that key. Every caller's tenant gets a generous rate
limit unless a test asks otherwise, and every test starts from clean limiter and key-cache
state (both are process-wide and keyed by ids the database reuses between tests).
"""

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from jobs.models import Task
from jobs.services.enqueue import enqueue
from jobs.store import rollups as stats
from tenants import keys, ratelimit
from tenants.models import ApiKey, Tenant
from tenants.ratelimit.redis import KEY_PREFIX

#: Large enough that no test outside test_api_ratelimit.py ever meets it.
GENEROUS_LIMIT = 1_000_000
PROBLEM = "application/problem+json"


class Caller:
    """One API key of one tenant, with a test client that sends it."""

    def __init__(self, tenant: Tenant, *, operator: bool = False, name: str = "test", scheme: str = "x-api-key"):
        self.tenant = tenant
        self.key, self.raw = keys.issue(tenant, name=name, operator=operator)
        headers = {"X-API-Key": self.raw} if scheme == "x-api-key" else {"Authorization": f"Bearer {self.raw}"}
        self.client = Client(headers=headers)

    def get(self, path: str, params: dict[str, Any] | None = None, **extra: Any) -> Any:
        return self.client.get(path, params or {}, **extra)

    def post(self, path: str, body: Any = None, **extra: Any) -> Any:
        if isinstance(body, (str, bytes)):
            return self.client.post(path, body, content_type="application/json", **extra)
        return self.client.post(path, json.dumps({} if body is None else body), content_type="application/json",
                                **extra)

    def submit(self, type: str = "noop", **spec: Any) -> Any:
        """POST /api/tasks with one task; returns the response."""
        return self.post("/api/tasks", {"type": type, **spec})

    def batch(self, specs: list[dict[str, Any]], **extra: Any) -> Any:
        return self.post("/api/tasks/batch", {"tasks": specs}, **extra)


MakeApi = Callable[..., Caller]


@pytest.fixture(name="clean_api_state", autouse=True)
def fixture_clean_api_state(servers: dict[str, Any]) -> Iterator[None]:
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


@pytest.fixture(name="make_api")
def fixture_make_api(db: None) -> MakeApi:
    """``make_api(slug, operator=False, rate_limit=GENEROUS_LIMIT, rate_window=None)`` → a Caller."""

    def make(slug: str, *, operator: bool = False, rate_limit: int | None = GENEROUS_LIMIT,
             rate_window: int | None = None, scheme: str = "x-api-key") -> Caller:
        tenant = Tenant.objects.filter(slug=slug).first() or Tenant.objects.create(
            name=slug.title(), slug=slug, rate_limit=rate_limit, rate_window_seconds=rate_window,
        )
        return Caller(tenant, operator=operator, scheme=scheme)

    return make


@pytest.fixture(name="api")
def fixture_api(make_api: MakeApi) -> Caller:
    """Tenant A (``acme``) through a tenant key."""
    return make_api("acme")


@pytest.fixture(name="other_api")
def fixture_other_api(make_api: MakeApi) -> Caller:
    """Tenant B (``globex``) through a tenant key."""
    return make_api("globex")


@pytest.fixture(name="operator_api")
def fixture_operator_api(make_api: MakeApi) -> Caller:
    """An operator key of its own tenant (``ops``)."""
    return make_api("ops", operator=True)


@pytest.fixture(name="demo_mode")
def fixture_demo_mode(settings: Any) -> None:
    settings.JOBS = {**settings.JOBS, "DEMO_MODE": True}


# --------------------------------------------------------------------------- helpers


def make_task(tenant: Tenant, type: str = "noop", *, status: str | None = None, **fields: Any) -> Task:
    """Enqueue a task, then force the given status and columns (no rollups written)."""
    spec = {k: fields.pop(k) for k in ("payload", "priority", "queue", "idempotency_key", "max_retries")
            if k in fields}
    task = enqueue(type, tenant=tenant, **spec)
    if status is not None:
        fields["status"] = status
    if fields:
        Task.objects.filter(pk=task.pk).update(**fields)
        task.refresh_from_db()
    return task


def finish(task: Task, status: str, *, wait_ms: int | None, exec_ms: int | None,
           finished_at: datetime | None = None) -> Task:
    """Finish ``task`` as a worker would: final columns on the row plus the rollup events.

    ``wait_ms=None`` means it never started (cancelled while waiting).
    """
    finished_at = finished_at or timezone.now()
    if wait_ms is None:
        started_at = None
        created_at = finished_at - timedelta(seconds=1)
    else:
        started_at = finished_at - timedelta(milliseconds=exec_ms or 0)
        created_at = started_at - timedelta(milliseconds=wait_ms)
    Task.objects.filter(pk=task.pk).update(
        status=status, created_at=created_at, started_at=started_at, finished_at=finished_at,
        attempts=0 if started_at is None else 1, worker=None if started_at is None else "host:1:test",
    )
    task.refresh_from_db()
    stats.record([stats.Finished(task.tenant_id, task.type, task.priority, status, created_at, started_at,
                                 finished_at)])
    return task


def assert_problem(response: Any, status: int, *fields: str) -> dict[str, Any]:
    """The response is an RFC 9457 problem with ``status``, naming each of ``fields`` in ``errors``."""
    assert response.status_code == status, (response.status_code, response.content[:2000])
    assert response["Content-Type"].startswith(PROBLEM), response["Content-Type"]
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["type"], str) and body["type"]
    if fields:
        named = [e["field"] for e in body.get("errors", [])]
        for field in fields:
            assert field in named, (field, body)
        assert all(isinstance(e["message"], str) and e["message"] for e in body["errors"])
    return body


def ids_of(response: Any) -> list[int]:
    assert response.status_code == 200, response.content[:2000]
    return [row["id"] for row in response.json()["data"]]


def api_key_row(caller: Caller) -> ApiKey:
    return ApiKey.objects.get(pk=caller.key.pk)

