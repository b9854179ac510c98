"""Fixtures and helpers of the console tests (tests/test_console.py).

``anon`` / ``viewer`` / ``operator`` are Django test clients: nobody, a staff user with view
permissions only, and a staff user who may also act (change tasks and tenants, add and
change API keys). Tasks are written directly (no registry, no wake-ups); ``finish`` also
records the rollup events a worker would, so analytics and counters see them.
"""

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import timezone

from jobs.lifecycle import Status
from jobs.models import Task, WorkerProcess
from jobs.store import rollups as stats
from tenants.models import Tenant

VIEW_PERMS = ["jobs.view_task", "tenants.view_tenant", "tenants.view_apikey"]
OPERATOR_PERMS = [*VIEW_PERMS, "jobs.change_task", "tenants.change_tenant", "tenants.add_apikey",
                  "tenants.change_apikey"]
HTMX = {"HX-Request": "true"}
PASSWORD = "console-test-pw"  # noqa: S105 — a throwaway test account


def make_user(username: str, *, staff: bool = True, perms: list[str] | tuple[str, ...] = ()) -> User:
    user = User.objects.create_user(username, password=PASSWORD, is_staff=staff)
    for perm in perms:
        app, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app, codename=codename))
    return user


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture(name="anon")
def fixture_anon(db: None) -> Client:
    return Client()


@pytest.fixture(name="viewer")
def fixture_viewer(db: None) -> Client:
    return client_for(make_user("viewer", perms=VIEW_PERMS))


@pytest.fixture(name="operator")
def fixture_operator(db: None) -> Client:
    return client_for(make_user("operator", perms=OPERATOR_PERMS))


def add_task(tenant: Tenant, type: str = "noop", *, status: str = Status.PENDING, **fields: Any) -> Task:
    return Task.objects.create(tenant=tenant, type=type, status=status, **fields)


def error_entry(attempt: int, kind: str, message: str, *, worker: str = "host-a:100:w",
                at: datetime | None = None) -> dict[str, Any]:
    return {"attempt": attempt, "at": (at or timezone.now()).isoformat(), "type": kind, "message": message,
            "worker": worker, "traceback": f"Traceback …\n{kind}: {message}"}


def failed_task(tenant: Tenant, type: str, *errors: tuple[str, str], **fields: Any) -> Task:
    """A dead-lettered task whose error history is ``errors`` (oldest first)."""
    now = timezone.now()
    entries = [error_entry(i + 1, kind, message) for i, (kind, message) in enumerate(errors)]
    return add_task(tenant, type, status=Status.FAILED, attempts=len(entries), errors=entries, finished_at=now,
                    started_at=now - timedelta(seconds=1), **fields)


def finish(task: Task, status: str, *, wait_ms: int | None = 1000, exec_ms: int | None = 2000,
           finished_at: datetime | None = None) -> Task:
    """Finish ``task`` as a worker would: the final columns plus the rollup events."""
    finished_at = finished_at or timezone.now()
    if wait_ms is None:
        started_at = None
        created_at = finished_at - timedelta(seconds=1)
    else:
        started_at = finished_at - timedelta(milliseconds=exec_ms or 0)
        created_at = started_at - timedelta(milliseconds=wait_ms)
    Task.objects.filter(pk=task.pk).update(status=status, created_at=created_at, started_at=started_at,
                                           finished_at=finished_at, attempts=0 if started_at is None else 1,
                                           worker=None if started_at is None else "host-a:100:w")
    task.refresh_from_db()
    stats.record([stats.Finished(task.tenant_id, task.type, task.priority, status, created_at, started_at,
                                 finished_at)])
    return task


def add_worker(pid: int, *, instance: str = "host-a", slots: list[dict[str, Any]] | None = None,
               heartbeat_age: float = 0.5) -> WorkerProcess:
    return WorkerProcess.objects.create(
        id=f"{instance}:{pid}:test", instance=instance, hostname=f"{instance}.example", pid=pid,
        threads=len(slots or []), slots=slots or [], last_heartbeat=timezone.now() - timedelta(seconds=heartbeat_age),
    )


def slot(index: int, task: Task | None = None, *, running_s: float = 0) -> dict[str, Any]:
    if task is None:
        return {"slot": index, "task_id": None, "type": None, "tenant_id": None, "started_at": None}
    started = timezone.now() - timedelta(seconds=running_s)
    return {"slot": index, "task_id": task.pk, "type": task.type, "tenant_id": task.tenant_id,
            "started_at": started.isoformat()}


def html(response: Any) -> str:
    return response.content.decode()


def row_ids(response: Any) -> list[int]:
    """Task ids of the list's rows, in page order."""
    assert response.status_code == 200, response.status_code
    return [int(x) for x in re.findall(r'data-task-id="(\d+)"', html(response))]


def counter(fragment: str, key: str) -> str:
    """The shown value of one counter of the counters fragment."""
    match = re.search(rf'data-counter="{key}">\s*<dt>[^<]*</dt>\s*<dd class="value">([^<]*)</dd>', fragment)
    assert match, f"no counter {key!r} in {fragment[:500]}"
    return match.group(1)


def query_string(url: str) -> dict[str, str]:
    from urllib.parse import parse_qsl, urlsplit

    return dict(parse_qsl(urlsplit(url.replace("&amp;", "&")).query))
