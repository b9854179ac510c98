"""Tenant isolation through every endpoint and filter: tenant A can neither see, count, cancel
nor retry tenant B's tasks; operator keys and ``?all=true``."""

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from jobs.lifecycle import Status
from jobs.models import Task, WorkerProcess
from jobs.store import rollups
from tests.support.api import Caller, assert_problem, ids_of
from tests.support.builders import finish, make_task

pytestmark = pytest.mark.django_db


class World:
    """Tenant A (``acme``) with two tasks; tenant B (``globex``) with one task in every state."""

    def __init__(self, a: Caller, b: Caller) -> None:
        now = timezone.now()
        self.a, self.b = a, b
        self.a_tasks = [
            make_task(a.tenant, "noop", priority=1, created_at=now - timedelta(hours=3)),
            finish(make_task(a.tenant, "noop", priority=1), "completed", wait_ms=10, exec_ms=20,
                   finished_at=now - timedelta(hours=2)),
        ]
        kw = {"priority": 5, "queue": "b-queue"}
        self.b_pending = make_task(b.tenant, "sleep", idempotency_key="shared-key", **kw)
        self.b_scheduled = make_task(b.tenant, "sleep", status="scheduled", run_at=now + timedelta(hours=1), **kw)
        self.b_running = make_task(b.tenant, "sleep", status="running", started_at=now, worker="host:9:b", **kw)
        self.b_completed = finish(make_task(b.tenant, "send_email", **kw), "completed", wait_ms=5, exec_ms=5)
        self.b_failed = finish(make_task(b.tenant, "send_email", **kw), "failed", wait_ms=5, exec_ms=5)
        self.b_cancelled = finish(make_task(b.tenant, "sleep", **kw), "cancelled", wait_ms=None, exec_ms=None)

    @property
    def a_ids(self) -> set[int]:
        return {t.pk for t in self.a_tasks}

    @property
    def b_ids(self) -> set[int]:
        return {t.pk for t in (self.b_pending, self.b_scheduled, self.b_running, self.b_completed, self.b_failed,
                               self.b_cancelled)}

    def b_statuses(self) -> dict[int, str]:
        return dict(Task.objects.filter(pk__in=self.b_ids).values_list("pk", "status"))


@pytest.fixture
def world(api: Caller, other_api: Caller) -> World:
    return World(api, other_api)


# =========================================================================== listing and counting


def test_each_tenant_lists_and_counts_only_its_own_tasks(world: World) -> None:
    a = world.a.get("/api/tasks", {"page_size": 100}).json()
    assert {row["id"] for row in a["data"]} == world.a_ids
    assert a["total"] == 2 and a["total_pages"] == 1
    assert {row["tenant"] for row in a["data"]} == {"acme"}
    b = world.b.get("/api/tasks", {"page_size": 100}).json()
    assert {row["id"] for row in b["data"]} == world.b_ids
    assert b["total"] == 6


def test_cursor_pages_hold_only_the_tenants_tasks(world: World) -> None:
    seen: list[int] = []
    cursor = ""
    while cursor is not None:
        body = world.a.get("/api/tasks", {"cursor": cursor, "page_size": 1}).json()
        seen += [row["id"] for row in body["data"]]
        cursor = body["next_cursor"]
    assert set(seen) == world.a_ids and len(seen) == 2


def _b_value(world: World, name: str) -> str:
    """A filter value that matches tenant B's tasks (and none of A's)."""
    return {
        "type_sleep": "sleep", "type_email": "send_email", "priority": "5", "queue": "b-queue",
        "q_key": "shared-key", "q_type": "send", "q_id": str(world.b_pending.pk), "q_id2": str(world.b_failed.pk),
        "tenant": "globex",
    }[name]


@pytest.mark.parametrize(("param", "value_name"), [
    ("type", "type_sleep"), ("type", "type_email"), ("priority", "priority"), ("queue", "queue"),
    ("q", "q_key"), ("q", "q_type"), ("q", "q_id"), ("q", "q_id2"), ("tenant", "tenant"),
])
@pytest.mark.parametrize("mode", ["pages", "cursor"])
def test_filters_aimed_at_the_other_tenants_tasks_find_nothing(world: World, param: str, value_name: str,
                                                               mode: str) -> None:
    params: dict[str, Any] = {param: _b_value(world, value_name), "page_size": 100}
    if mode == "cursor":
        params["cursor"] = ""
    body = world.a.get("/api/tasks", params).json()
    assert body["data"] == []
    if mode == "pages":
        assert body["total"] == 0
    # B, asking the same, does find its tasks: the filter works, the scope hides them.
    assert world.b.get("/api/tasks", params).json()["data"]


@pytest.mark.parametrize("status", ["pending", "scheduled", "running", "completed", "failed", "cancelled",
                                    "pending,scheduled,running,completed,failed,cancelled"])
def test_status_filters_count_only_the_tenants_tasks(world: World, status: str) -> None:
    body = world.a.get("/api/tasks", {"status": status, "page_size": 100}).json()
    expected = {t.pk for t in world.a_tasks if t.status in status.split(",")}
    assert {row["id"] for row in body["data"]} == expected
    assert body["total"] == len(expected)


@pytest.mark.parametrize("param", ["created_after", "created_before", "finished_after", "finished_before"])
def test_date_filters_see_only_the_tenants_tasks(world: World, param: str) -> None:
    wide = (timezone.now() - timedelta(days=30) if param.endswith("after") else timezone.now() + timedelta(days=30))
    body = world.a.get("/api/tasks", {param: wide.isoformat(), "page_size": 100}).json()
    returned = {row["id"] for row in body["data"]}
    assert returned and returned <= world.a_ids
    assert not returned & world.b_ids
    assert body["total"] == len(returned)


# =========================================================================== one task


def test_another_tenants_task_is_404_exactly_like_a_missing_one(world: World) -> None:
    missing = world.a.get("/api/tasks/987654321")
    for pk in world.b_ids:
        response = world.a.get(f"/api/tasks/{pk}")
        assert_problem(response, 404)
        assert response.json() == missing.json()
        assert response["Content-Type"] == missing["Content-Type"]
        assert world.b.get(f"/api/tasks/{pk}").status_code == 200


def test_a_tenant_cannot_cancel_another_tenants_task(world: World) -> None:
    missing = world.a.post("/api/tasks/987654321/cancel").json()
    before = world.b_statuses()
    for pk in world.b_ids:
        response = world.a.post(f"/api/tasks/{pk}/cancel")
        assert_problem(response, 404)
        assert response.json() == missing  # not 409: even a finished task's status is not revealed
    assert world.b_statuses() == before
    assert not Task.objects.filter(pk=world.b_running.pk, cancel_requested=True).exists()
    # The owner can.
    assert world.b.post(f"/api/tasks/{world.b_pending.pk}/cancel").json()["status"] == "cancelled"


def test_a_tenant_cannot_retry_another_tenants_task(world: World) -> None:
    missing = world.a.post("/api/tasks/987654321/retry").json()
    before = world.b_statuses()
    for pk in world.b_ids:
        response = world.a.post(f"/api/tasks/{pk}/retry")
        assert_problem(response, 404)
        assert response.json() == missing
    assert world.b_statuses() == before
    assert world.b.post(f"/api/tasks/{world.b_failed.pk}/retry").json()["status"] == "pending"


def test_idempotency_keys_are_per_tenant(world: World) -> None:
    response = world.a.submit(idempotency_key="shared-key")
    assert response.status_code == 201
    body = response.json()
    assert body["id"] != world.b_pending.pk and body["tenant"] == "acme" and body["type"] == "noop"
    header = world.a.post("/api/tasks", {"type": "noop"}, HTTP_IDEMPOTENCY_KEY="shared-key")
    assert (header.status_code, header.json()["id"]) == (200, body["id"])
    world.b.submit(idempotency_key="b-only")
    batch = world.a.batch([{"type": "noop", "idempotency_key": "b-only"}]).json()
    assert batch["created"] == 1 and batch["replayed"] == []
    assert Task.objects.get(pk=batch["ids"][0]).tenant_id == world.a.tenant.pk


def test_submissions_land_in_the_keys_tenant(world: World) -> None:
    single = world.a.submit().json()
    batch = world.a.batch([{"type": "noop"}] * 3).json()
    owners = set(Task.objects.filter(pk__in=[single["id"], *batch["ids"]]).values_list("tenant__slug", flat=True))
    assert owners == {"acme"}


# =========================================================================== analytics


def test_analytics_count_only_the_tenants_tasks(world: World) -> None:
    a = world.a.get("/api/analytics").json()
    assert a["total"] == 2
    assert a["by_status"] == {"pending": 1, "scheduled": 0, "running": 0, "completed": 1, "failed": 0,
                              "cancelled": 0}
    assert a["by_priority"] == {"1": 2, "2": 0, "3": 0, "4": 0, "5": 0}
    assert a["failure_rate"] == 0.0
    assert (a["avg_execution_ms"], a["avg_queue_wait_ms"]) == (20.0, 10.0)
    assert a["completed_last_hour"] == 0 and a["percentile_sample"] == 1
    b = world.b.get("/api/analytics").json()
    assert b["total"] == 6 and b["failure_rate"] == round(1 / 3, 4) and b["completed_last_hour"] == 1


def test_analytics_types_and_throughput_are_per_tenant(world: World) -> None:
    assert [r["type"] for r in world.a.get("/api/analytics/types").json()] == ["noop"]
    assert [r["type"] for r in world.b.get("/api/analytics/types").json()] == ["send_email", "sleep"]
    now = timezone.now()
    rollups.record([rollups.Finished(world.b.tenant.pk, "sleep", 3, Status.COMPLETED, now, now, now)] * 4)
    a_points = world.a.get("/api/analytics/throughput").json()
    assert sum(p["completed"] + p["failed"] + p["cancelled"] for p in a_points) == 0
    b_points = world.b.get("/api/analytics/throughput").json()
    assert sum(p["completed"] for p in b_points) == 5


# =========================================================================== workers


def test_workers_show_other_tenants_slots_as_busy_without_details(world: World, operator_api: Caller) -> None:
    a_task, b_task = world.a_tasks[0], world.b_running
    started = timezone.now().isoformat()
    def busy(slot: int, task: Task) -> dict[str, Any]:
        return {"slot": slot, "task_id": task.pk, "type": task.type, "tenant_id": task.tenant_id, "started_at": started}

    WorkerProcess.objects.create(id="host:1:w", instance="host", hostname="host", pid=1, threads=3, slots=[
        busy(0, a_task), busy(1, b_task),
        {"slot": 2, "task_id": None, "type": None, "tenant_id": None, "started_at": None},
    ])

    def slots(caller: Caller) -> list[tuple[Any, ...]]:
        (process,) = caller.get("/api/workers").json()
        assert process["busy"] == 2
        return [(s["busy"], s["task_id"], s["type"], s["tenant"], s["started_at"] is not None) for s in
                process["slots"]]

    assert slots(world.a) == [(True, a_task.pk, "noop", "acme", True), (True, None, None, None, False),
                              (False, None, None, None, False)]
    assert slots(world.b) == [(True, None, None, None, False), (True, b_task.pk, "sleep", "globex", True),
                              (False, None, None, None, False)]
    assert slots(operator_api) == [(True, a_task.pk, "noop", "acme", True), (True, b_task.pk, "sleep", "globex", True),
                                   (False, None, None, None, False)]


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
