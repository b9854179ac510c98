"""The HTTP API as a client sees it: a caller holding one API key, and assertions on answers."""

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.test import Client

from tenants import keys
from tenants.models import ApiKey, Tenant

#: Large enough that no test outside the test_ratelimit*.py files ever meets it.
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


def when(value: str) -> datetime:
    """An ISO 8601 timestamp from an answer, as a datetime."""
    return datetime.fromisoformat(value)
