"""The operational endpoints: GET /api/health, /api/health/ready and /api/workers."""

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import DatabaseError
from django.test import Client
from django.utils import timezone

from jobs.models import Task, WorkerProcess
from tests.support.api import Caller, assert_problem, when
from tests.support.builders import make_task
from tests.support.redis import use_redis

pytestmark = pytest.mark.django_db


def test_health_needs_no_key() -> None:
    response = Client().get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_reports_each_dependency(servers: dict[str, Any]) -> None:
    response = Client().get("/api/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"] == ("ok" if servers["redis_url"] else "not configured")


def test_ready_is_503_when_redis_is_unreachable(settings: Any) -> None:
    use_redis(settings, "redis://127.0.0.1:1/0")  # nothing listens on port 1
    response = Client().get("/api/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error")


def test_ready_is_503_when_the_database_is_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    from jobs.api.views import system

    class DeadConnection:
        def cursor(self) -> Any:
            raise DatabaseError("connection refused")

        def close(self) -> None:
            pass

    monkeypatch.setattr(system, "connection", DeadConnection())
    response = Client().get("/api/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"].startswith("error")


def worker_row(wid: str, slots: list[dict[str, Any]], *, heartbeat: datetime | None = None,
               queues: str = "", instance: str = "host-a", clock_skew: float | None = None) -> WorkerProcess:
    return WorkerProcess.objects.create(
        id=wid, instance=instance, hostname=instance, pid=100, queues=queues, threads=len(slots),
        slots=slots, last_heartbeat=heartbeat or timezone.now(), clock_skew=clock_skew,
    )


def slot(index: int, task: Task | None = None, started: datetime | None = None) -> dict[str, Any]:
    return {"slot": index, "task_id": task.pk if task else None, "type": task.type if task else None,
            "tenant_id": task.tenant_id if task else None,
            "started_at": (started or timezone.now()).isoformat() if task else None}


def test_workers_with_all_lists_every_live_process_with_its_slots(operator_api: Caller, api: Caller) -> None:
    mine = make_task(api.tenant, "sleep", status="running")
    started = timezone.now() - timedelta(seconds=3)
    worker_row("host-a:100:x", [slot(0, mine, started), slot(1)], queues="default,emails", clock_skew=30.01234)
    worker_row("host-a:101:dead", [slot(0)], heartbeat=timezone.now() - timedelta(minutes=5))
    worker_row("host-b:7:y", [slot(0), slot(1), slot(2)], instance="host-b")
    response = operator_api.get("/api/workers", {"all": "true"})
    assert response.status_code == 200
    body = response.json()
    process, other = body["processes"]  # every live process on every instance; the dead one is gone
    assert (other["id"], other["instance"], other["busy"], other["queues"]) == ("host-b:7:y", "host-b", 0, [])
    assert other["clock_skew"] is None  # not measured (yet)
    assert [s["busy"] for s in other["slots"]] == [False, False, False]
    assert process["id"] == "host-a:100:x"
    assert (process["instance"], process["hostname"], process["pid"], process["threads"]) == ("host-a", "host-a",
                                                                                                 100, 2)
    assert process["queues"] == ["default", "emails"]
    assert process["clock_skew"] == 30.012  # its host runs 30 s ahead of the database, to the millisecond
    assert process["busy"] == 1
    busy, idle = process["slots"]
    assert (busy["slot"], busy["busy"], busy["task_id"], busy["type"], busy["tenant"]) == (0, True, mine.pk,
                                                                                           "sleep", "acme")
    assert abs(when(busy["started_at"]) - started) < timedelta(milliseconds=1)
    assert busy["running_ms"] >= 3000
    assert idle == {"slot": 1, "busy": False, "task_id": None, "type": None, "tenant": None, "started_at": None,
                    "running_ms": None}
    assert body["running"] == [{k: busy[k] for k in ("task_id", "type", "tenant", "started_at", "running_ms")}]


def test_workers_shows_a_tenant_its_running_tasks_oldest_first(api: Caller, other_api: Caller) -> None:
    old, new = make_task(api.tenant, "sleep", status="running"), make_task(api.tenant, "noop", status="running")
    theirs = make_task(other_api.tenant, "sleep", status="running")
    now = timezone.now()
    worker_row("host-a:1:x", [slot(0, new, now - timedelta(seconds=1)), slot(1, theirs), slot(2)])
    worker_row("host-b:2:y", [slot(0, old, now - timedelta(seconds=9))], instance="host-b")
    body = api.get("/api/workers").json()
    assert list(body) == ["running"]
    assert [(r["task_id"], r["type"], r["tenant"]) for r in body["running"]] == [(old.pk, "sleep", "acme"),
                                                                                 (new.pk, "noop", "acme")]
    assert body["running"][0]["running_ms"] >= 9000


def test_workers_when_none_are_alive(api: Caller, operator_api: Caller) -> None:
    assert api.get("/api/workers").json() == {"running": []}
    assert operator_api.get("/api/workers", {"all": "1"}).json() == {"running": [], "processes": []}


def test_workers_all_is_for_operator_keys_only(api: Caller) -> None:
    assert_problem(api.get("/api/workers", {"all": "true"}), 403)
    assert_problem(api.get("/api/workers", {"all": "maybe"}), 400)
