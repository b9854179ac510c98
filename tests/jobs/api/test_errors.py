"""Wrong requests to any endpoint: 401 without a valid key, 404 and 405, one problem shape for all."""

import json

import pytest
from django.test import Client

from jobs.models import Task
from tests.support.api import Caller, assert_problem
from tests.support.builders import make_task

pytestmark = pytest.mark.django_db


KEYED_ENDPOINTS = [
    ("get", "/api/tasks"), ("post", "/api/tasks"), ("post", "/api/tasks/batch"), ("get", "/api/tasks/1"),
    ("post", "/api/tasks/1/cancel"), ("post", "/api/tasks/1/retry"), ("get", "/api/analytics"),
    ("get", "/api/analytics/throughput"), ("get", "/api/analytics/types"), ("get", "/api/workers"),
    ("post", "/api/demo/seed"), ("post", "/api/demo/clear"),
]


@pytest.mark.parametrize(("method", "path"), KEYED_ENDPOINTS)
@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "jek_nope_nope"}, {"Authorization": "Bearer garbage"}],
                         ids=["no-key", "unknown-key", "malformed-bearer"])
def test_every_endpoint_but_health_needs_a_valid_key(method: str, path: str, headers: dict[str, str],
                                                     demo_mode: None) -> None:
    client = Client(headers=headers)
    if method == "post":
        response = client.post(path, json.dumps({"type": "noop", "tasks": [{"type": "noop"}]}),
                               content_type="application/json")
    else:
        response = client.get(path)
    body = assert_problem(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert body["title"] == "Unauthorized"
    assert not Task.objects.exists()


def test_a_path_that_is_no_endpoint_is_a_problem_404(api: Caller) -> None:
    for path in ("/api/nothing", "/api/tasks/abc", "/api/tasks/1/"):
        assert_problem(api.get(path), 404)


@pytest.mark.parametrize(("method", "path"), [
    ("put", "/api/tasks"), ("delete", "/api/tasks"), ("delete", "/api/tasks/1"), ("patch", "/api/tasks/1"),
    ("get", "/api/tasks/batch"), ("get", "/api/tasks/1/cancel"), ("get", "/api/tasks/1/retry"),
    ("post", "/api/analytics"), ("post", "/api/analytics/types"), ("post", "/api/workers"),
    ("get", "/api/demo/seed"), ("delete", "/api/demo/clear"), ("post", "/api/health"),
])
def test_wrong_methods_are_405(api: Caller, method: str, path: str) -> None:
    response = getattr(api.client, method)(path)
    body = assert_problem(response, 405)
    assert body["title"] == "Method not allowed"


def test_every_error_is_a_problem_document(api: Caller) -> None:
    """One shape for 400, 401, 404, 405, 409, 413, 415."""
    done = make_task(api.tenant, status="completed")
    responses = {
        400: api.post("/api/tasks", {}),
        401: Client().get("/api/tasks"),
        404: api.get("/api/tasks/999999"),
        405: api.client.delete("/api/tasks"),
        409: api.post(f"/api/tasks/{done.pk}/cancel"),
        413: api.submit(payload={"s": "x" * (65 * 1024)}),
        415: api.client.post("/api/tasks", "x", content_type="text/plain"),
    }
    for status, response in responses.items():
        body = assert_problem(response, status)
        assert set(body) >= {"type", "title", "status", "detail"}
