"""Request and response examples, by operationId (request) and (operationId, status) (response)."""

from datetime import UTC, datetime, timedelta
from typing import Any

from jobs.models import Task
from jobs.problems import PROBLEM_TYPE, TITLES
from tenants.models import Tenant

from .. import representation


def _task() -> Task:
    """A finished task as the API shows one: built in memory (no row), rendered by the API's own code."""
    at = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    return Task(id=42, tenant=Tenant(id=1, slug="acme", name="Acme"), type="send_email", queue="default", priority=3,
                status="completed", payload={"to": "ada@example.com"}, result={"message_id": "m-1"}, attempts=1,
                max_retries=3, run_at=at, created_at=at, started_at=at + timedelta(milliseconds=50),
                finished_at=at + timedelta(milliseconds=420), worker="host-a:4121:w3",
                idempotency_key="order-1841-receipt")


PROBLEM: dict[str, Any] = {
    "type": f"{PROBLEM_TYPE}validation", "title": TITLES[400], "status": 400, "detail": "The request is invalid.",
    "errors": [{"field": "priority", "message": "must be between 1 and 5"},
               {"field": "type", "message": "must be one of your task types: noop, send_email"}],
}

REQUESTS: dict[str, dict[str, Any]] = {
    "tasks_create": {"type": "send_email", "payload": {"to": "ada@example.com"}, "priority": 4,
                     "max_retries": 5, "delay_seconds": 30, "idempotency_key": "order-1841-receipt"},
    "tasks_batch": {"tasks": [{"type": "resize_image", "payload": {"image": 1}},
                              {"type": "resize_image", "payload": {"image": 2}, "priority": 5}]},
    "bulk_create": {"action": "retry", "filter": {"status": "failed", "type": "send_email"}},
    "pauses_create": {"kind": "queue", "value": "emails", "reason": "SMTP provider outage"},
    "schedules_create": {"name": "nightly-report", "tenant": "acme", "type": "generate_report", "cron": "0 3 * * *",
                         "timezone": "Europe/Paris"},
    "schedules_update": {"enabled": False},
    "tenants_update": {"max_running": 20, "weight": 2},
    "webhooks_create": {"url": "https://example.com/hooks/jobs", "events": ["task.completed", "task.failed"]},
}



def responses() -> dict[tuple[str, str], Any]:
    """Built when the schema is (the representation's code may read settings), never at import."""
    task = _task()
    return {
        ("tasks_create", "201"): representation.submitted(task, duplicate=False),
        ("tasks_retrieve", "200"): representation.detail(task),
        ("tasks_list", "200"): {"data": [representation.task(task)], "total": 1, "total_exact": True, "page": 1,
                                "page_size": 20, "total_pages": 1},
        ("tasks_batch", "201"): {"created": 2, "ids": [43, 44], "replayed": [], "duplicate": []},
        ("tasks_create", "400"): PROBLEM,
    }
