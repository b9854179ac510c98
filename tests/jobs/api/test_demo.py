"""POST /api/demo/seed and /api/demo/clear: off unless demo mode, operator keys only."""

from typing import Any

import pytest
from django.test import Client

from jobs.api.conf import api_conf
from jobs.models import Task, TaskStat, ThroughputBucket
from tests.support.api import Caller, assert_problem
from tests.support.builders import finish, make_task

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/api/demo/seed", "/api/demo/clear"])
def test_demo_endpoints_are_off_unless_demo_mode(operator_api: Caller, path: str) -> None:
    assert not api_conf().DEMO_MODE
    assert_problem(operator_api.post(path), 404)
    assert not Task.objects.exists()


def test_demo_seed_and_clear(operator_api: Caller, demo_mode: None) -> None:
    response = operator_api.post("/api/demo/seed")
    assert response.status_code == 201
    assert response.json() == {"created": 50}
    seeded = Task.objects.filter(tenant=operator_api.tenant)
    assert seeded.count() == 50
    assert set(seeded.values_list("type", flat=True)) <= {"send_email", "resize_image", "generate_report",
                                                           "call_webhook"}
    assert all(1 <= p <= 5 for p in seeded.values_list("priority", flat=True))
    finish(seeded.first(), "completed", wait_ms=5, exec_ms=5)
    response = operator_api.post("/api/demo/clear")
    assert response.status_code == 200
    assert response.json() == {"deleted": 50}
    assert not Task.objects.exists()
    assert not TaskStat.objects.exists() and not ThroughputBucket.objects.exists()


@pytest.mark.parametrize("path", ["/api/demo/seed", "/api/demo/clear"])
def test_demo_endpoints_refuse_tenant_keys(api: Caller, demo_mode: None, path: str) -> None:
    make_task(api.tenant)
    body = assert_problem(api.post(path), 403)
    assert body["type"].endswith("/operator-only")
    assert Task.objects.count() == 1


def test_the_seeds_load_tool_protocol_works_unchanged(make_api: Any, demo_mode: None) -> None:
    """The seed's load-test client: a lower-case ``x-api-key``, clear, seed × N, then poll
    ``GET /api/analytics?all=true`` for ``total_tasks`` and ``status_counts`` (its names, served as
    aliases of ``total`` and ``by_status``), and read ``avg_execution_ms`` / ``avg_queue_wait_ms``."""
    operator = make_api("seed-ops", operator=True)
    client = Client(headers={"x-api-key": operator.raw})
    assert client.post("/api/demo/clear").status_code == 200
    for _ in range(3):
        assert client.post("/api/demo/seed").status_code == 201
    finish(Task.objects.filter(tenant=operator.tenant).first(), "completed", wait_ms=40, exec_ms=60)
    body = client.get("/api/analytics?all=true").json()
    assert body["total_tasks"] == body["total"] == 150
    assert body["status_counts"] == body["by_status"]
    assert body["status_counts"]["pending"] + body["status_counts"]["running"] == 149
    assert (body["avg_execution_ms"], body["avg_queue_wait_ms"]) == (60.0, 40.0)
    schema = client.get("/api/schema/?format=json").json()
    fields = schema["components"]["schemas"]["AnalyticsOverview"]["properties"]
    assert {"total_tasks", "status_counts", "total", "by_status"} <= set(fields)
