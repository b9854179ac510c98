"""Tenant isolation: tenant A can neither see, count, cancel nor retry tenant B's tasks, even on a worker."""

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from jobs.lifecycle import Status
from jobs.models import Task, WorkerProcess
from jobs.store import rollups
from tests.support.api import Caller, assert_problem
from tests.support.isolation import World

pytestmark = pytest.mark.django_db


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


@pytest.mark.parametrize(("action", "owned", "owners_result"), [
    pytest.param("cancel", "b_pending", "cancelled", id="cancel"),
    pytest.param("retry", "b_failed", "pending", id="retry"),
])
def test_a_tenant_cannot_cancel_or_retry_another_tenants_task(world: World, action: str, owned: str,
                                                              owners_result: str) -> None:
    missing = world.a.post(f"/api/tasks/987654321/{action}").json()
    before = world.b_statuses()
    for pk in world.b_ids:
        response = world.a.post(f"/api/tasks/{pk}/{action}")
        assert_problem(response, 404)
        assert response.json() == missing  # not 409: even a finished task's status is not revealed
    assert world.b_statuses() == before
    assert not Task.objects.filter(pk=world.b_running.pk, cancel_requested=True).exists()
    # The owner can.
    assert world.b.post(f"/api/tasks/{getattr(world, owned).pk}/{action}").json()["status"] == owners_result


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
    assert a["by_status"] == {"pending": 1, "scheduled": 0, "blocked": 0, "running": 0, "completed": 1, "failed": 0,
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


def test_workers_show_each_tenant_only_its_own_running_tasks(world: World, operator_api: Caller) -> None:
    a_task, b_task = world.a_tasks[0], world.b_running
    started = timezone.now().isoformat()
    def busy(slot: int, task: Task) -> dict[str, Any]:
        return {"slot": slot, "task_id": task.pk, "type": task.type, "tenant_id": task.tenant_id, "started_at": started}

    WorkerProcess.objects.create(id="host:1:w", instance="host", hostname="host", pid=1, threads=3, slots=[
        busy(0, a_task), busy(1, b_task),
        {"slot": 2, "task_id": None, "type": None, "tenant_id": None, "started_at": None},
    ])

    def running(caller: Caller, **params: str) -> list[tuple[Any, ...]]:
        body = caller.get("/api/workers", params).json()
        return [(r["task_id"], r["type"], r["tenant"]) for r in body["running"]]

    assert running(world.a) == [(a_task.pk, "noop", "acme")]
    assert running(world.b) == [(b_task.pk, "sleep", "globex")]
    assert running(operator_api) == [], "an operator key sees its own tenant's without all=true"
    assert sorted(running(operator_api, all="true")) == sorted([(a_task.pk, "noop", "acme"),
                                                               (b_task.pk, "sleep", "globex")])
    (process,) = operator_api.get("/api/workers", {"all": "true"}).json()["processes"]
    assert process["busy"] == 2 and [s["task_id"] for s in process["slots"]] == [a_task.pk, b_task.pk, None]
