"""Operator keys and ``?all=true``: a tenant key asking for all is 403; an operator key reads and acts on all."""

import pytest

from jobs.lifecycle import Status
from jobs.models import Task
from tests.support.api import Caller, assert_problem, ids_of
from tests.support.builders import make_task
from tests.support.isolation import World

pytestmark = pytest.mark.django_db


# =========================================================================== all=true


ALL_ENDPOINTS = [
    ("get", "/api/tasks"), ("get", "/api/tasks/{id}"), ("post", "/api/tasks/{id}/cancel"),
    ("post", "/api/tasks/{id}/retry"), ("get", "/api/analytics"), ("get", "/api/analytics/throughput"),
    ("get", "/api/analytics/types"),
]


@pytest.mark.parametrize(("method", "path"), ALL_ENDPOINTS)
@pytest.mark.parametrize("flag", ["true", "YES"])
def test_a_tenant_key_asking_for_all_is_403(world: World, method: str, path: str, flag: str) -> None:
    before = world.b_statuses()
    url = path.format(id=world.b_failed.pk) + f"?all={flag}"
    response = getattr(world.a.client, method)(url)
    body = assert_problem(response, 403)
    assert body["type"].endswith("/operator-only")
    assert world.b_statuses() == before


@pytest.mark.parametrize("flag", ["false", "0", "no", ""])
def test_all_false_is_just_the_tenants_scope(world: World, flag: str) -> None:
    assert set(ids_of(world.a.get("/api/tasks", {"all": flag}))) == world.a_ids


def test_an_operator_key_sees_only_its_own_tenant_without_all(world: World, operator_api: Caller) -> None:
    mine = make_task(operator_api.tenant)
    assert ids_of(operator_api.get("/api/tasks")) == [mine.pk]
    assert operator_api.get("/api/analytics").json()["total"] == 1
    assert_problem(operator_api.get(f"/api/tasks/{world.b_pending.pk}"), 404)
    assert_problem(operator_api.post(f"/api/tasks/{world.b_pending.pk}/cancel"), 404)
    assert Task.objects.get(pk=world.b_pending.pk).status == Status.PENDING


def test_an_operator_key_with_all_reads_every_tenant(world: World, operator_api: Caller) -> None:
    mine = make_task(operator_api.tenant)
    everything = world.a_ids | world.b_ids | {mine.pk}
    body = operator_api.get("/api/tasks", {"all": "true", "page_size": 100}).json()
    assert {row["id"] for row in body["data"]} == everything and body["total"] == 9
    assert set(ids_of(operator_api.get("/api/tasks", {"all": "true", "tenant": "globex", "page_size": 100}))) == \
        world.b_ids
    cursor = operator_api.get("/api/tasks", {"all": "true", "cursor": "", "page_size": 100}).json()
    assert {row["id"] for row in cursor["data"]} == everything
    assert operator_api.get(f"/api/tasks/{world.b_failed.pk}", {"all": "true"}).json()["tenant"] == "globex"
    overview = operator_api.get("/api/analytics", {"all": "true"}).json()
    assert overview["total"] == 9 and overview["by_status"]["failed"] == 1
    types = [r["type"] for r in operator_api.get("/api/analytics/types", {"all": "true"}).json()]
    assert types == ["noop", "send_email", "sleep"]
    points = operator_api.get("/api/analytics/throughput", {"all": "true"}).json()
    assert sum(p["completed"] for p in points) == 1  # B's recent one; A's finished two hours ago


def test_an_operator_key_with_all_can_cancel_and_retry_any_tenants_task(world: World, operator_api: Caller) -> None:
    response = operator_api.post(f"/api/tasks/{world.b_pending.pk}/cancel?all=true")
    assert (response.status_code, response.json()["status"]) == (200, "cancelled")
    response = operator_api.post(f"/api/tasks/{world.b_failed.pk}/retry?all=true")
    assert (response.status_code, response.json()["status"]) == (200, "pending")
    body = assert_problem(operator_api.post(f"/api/tasks/{world.b_completed.pk}/cancel?all=true"), 409)
    assert body["current_status"] == "completed"


# =========================================================================== demo


def test_demo_clear_without_all_touches_only_the_operators_tenant(world: World, operator_api: Caller,
                                                                   demo_mode: None) -> None:
    assert operator_api.post("/api/demo/seed").status_code == 201
    assert operator_api.post("/api/demo/clear").json() == {"deleted": 50}
    assert set(Task.objects.values_list("pk", flat=True)) == world.a_ids | world.b_ids
    assert_problem(world.a.post("/api/demo/clear?all=true"), 403)
    assert Task.objects.count() == 8


def test_demo_clear_with_all_empties_every_tenant(world: World, operator_api: Caller, demo_mode: None) -> None:
    response = operator_api.post("/api/demo/clear?all=true")
    assert response.json() == {"deleted": 8}
    assert not Task.objects.exists()
    assert world.a.get("/api/analytics").json()["total"] == 0
    assert world.b.get("/api/analytics").json()["total"] == 0
