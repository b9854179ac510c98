"""``manage.py serve``, the production web tier: one port, N processes, graceful reload and stop.

Real processes (a gunicorn master, daphne workers) against the test database; what a client
sees is checked, never how long anything took.
"""

import json
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import psutil
import pytest
from django.db import connection, transaction

from jobs.models import Task
from jobs.services.enqueue import enqueue
from tenants import keys
from tests.support.sse import request
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _workers(server: Any) -> set[int]:
    return {p.pid for p in psutil.Process(server.proc.pid).children()}


def _post_task(port: int, raw: str) -> tuple[int, dict[str, Any]]:
    status, _, body = request(port, "/api/tasks", {"X-API-Key": raw, "Content-Type": "application/json"},
                              method="POST", body=json.dumps({"type": "noop"}))
    return status, json.loads(body)


def test_one_port_serves_the_api_the_console_and_the_streams_from_two_processes(tenant, start_daphne,
                                                                                   streams) -> None:
    server = start_daphne(workers=2)
    assert len(_workers(server)) == 2, "--workers 2 runs two web processes under the master"
    _, raw = keys.issue(tenant)
    status, task = _post_task(server.port, raw)
    assert status == 201 and Task.objects.filter(pk=task["id"], tenant=tenant).exists()
    assert request(server.port, "/admin/login/")[0] == 200
    stream = streams(server.port, "/api/sse/events", {"X-API-Key": raw})
    assert stream.status == 200 and stream.headers["content-type"].startswith("text/event-stream")
    stream.wait(lambda s: any(m.id is not None for m in s.snapshot()), what="the stream's opening id")


@pytest.mark.mariadb
def test_requests_reuse_each_threads_database_connection(tenant, start_daphne) -> None:
    server = start_daphne(workers=1, JOBS_WEB_THREADS="4")
    _, raw = keys.issue(tenant)

    def connections() -> int:
        with connection.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS LIKE 'Connections'")
            return int(cur.fetchone()[1])

    for _ in range(8):  # every thread has opened its connection (and the event hub its own)
        assert _post_task(server.port, raw)[0] == 201
    before = connections()
    statuses = [_post_task(server.port, raw)[0] for _ in range(60)]
    opened = connections() - before
    assert statuses == [201] * 60
    # Each request used to open one; now only a thread that has never served may still open one.
    assert opened <= 4, f"{opened} new database connections for 60 requests on 4 threads"


def test_hup_reloads_every_process_without_refusing_a_request(tenant, start_daphne) -> None:
    server = start_daphne(workers=2)
    old = _workers(server)
    _, raw = keys.issue(tenant)
    server.proc.send_signal(signal.SIGHUP)
    statuses: list[int] = []

    def replaced() -> bool:
        statuses.append(request(server.port, "/api/health")[0])
        current = _workers(server)
        return len(current) == 2 and not current & old

    wait_for(replaced, timeout=120, interval=0.1, what="two new web processes in place of the old ones")
    assert set(statuses) == {200}, f"a request during the reload was not answered: {statuses}"
    assert _post_task(server.port, raw)[0] == 201
    assert server.proc.poll() is None, "the master lives on through a reload"


def test_term_lets_the_request_in_flight_answer_then_stops(tenant, start_daphne) -> None:
    server = start_daphne(workers=1)
    _, raw = keys.issue(tenant)
    task = enqueue("noop", tenant=tenant)
    answer: dict[str, Any] = {}

    def cancel() -> None:
        answer["status"], _, answer["body"] = request(server.port, f"/api/tasks/{task.pk}/cancel",
                                                      {"X-API-Key": raw}, method="POST")

    with transaction.atomic():
        # This test holds the task's row (the whole database on SQLite), so the cancel waits in flight.
        Task.objects.select_for_update().get(pk=task.pk)
        caller = threading.Thread(target=cancel)
        caller.start()
        time.sleep(2)  # the request reaches the view and blocks on the lock
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(2)
        assert server.proc.poll() is None, "the master waits for the request in flight"
        assert "status" not in answer
    caller.join(timeout=60)
    assert answer.get("status") == 200, answer
    assert server.proc.wait(timeout=60) == 0
    task.refresh_from_db()
    assert task.status == "cancelled"


def test_serve_refuses_bad_options_with_a_message() -> None:
    for args, needle in [(["--workers", "0"], "--workers"), (["--port", "70000"], "--port"),
                         (["--host", "::1"], "IPv4")]:
        done = subprocess.run([sys.executable, "manage.py", "serve", *args], capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode != 0, args
        assert needle in done.stderr and "Traceback" not in done.stderr, done.stderr
