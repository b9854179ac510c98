"""``GET /api/tasks/{id}?wait=`` against a real ``serve`` and a real worker: it waits on the event
loop (no web thread held), answers when the worker finishes the task or when the time is up, and
stays in the key's scope."""

import asyncio
import gzip
import json
import threading
from typing import Any

import pytest
from channels.db import database_sync_to_async

from jobs.api import wait
from jobs.lifecycle import Status
from jobs.models import Task
from jobs.services.enqueue import enqueue
from tenants import keys
from tests.support.api import Caller
from tests.support.builders import add_task
from tests.support.outbox import until
from tests.support.sse import request, run_burst
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


class Waiter(threading.Thread):
    """One ``?wait=`` request, answered on its own thread."""

    def __init__(self, port: int, path: str, headers: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.port, self.path, self.headers = port, path, headers
        self.answer: tuple[int, dict[str, str], bytes] | None = None
        self.start()

    def run(self) -> None:
        self.answer = request(self.port, self.path, self.headers)

    def body(self) -> Any:
        self.join(90)
        assert self.answer is not None, "the wait never answered"
        return json.loads(self.answer[2])


def test_wait_answers_when_a_real_worker_finishes_the_task_without_holding_a_thread(
        tenant, start_daphne, workers) -> None:
    # One web thread: a wait that held it would keep the plain read below from ever being served.
    daphne = start_daphne(JOBS_WEB_THREADS="1")
    _, raw = keys.issue(tenant)
    auth = {"X-API-Key": raw}
    task = enqueue("noop", tenant=tenant)
    waiters = [Waiter(daphne.port, f"/api/tasks/{task.pk}?wait=60", auth) for _ in range(3)]
    wait_for(lambda: "event hub: polling from event" in daphne.log(), timeout=60, what="the waits to subscribe")

    status, _, body = request(daphne.port, f"/api/tasks/{task.pk}", auth)
    assert status == 200 and json.loads(body)["status"] == Status.PENDING, "served while three requests wait"
    assert all(w.answer is None for w in waiters), "nothing has finished the task yet"

    run_burst(workers)
    for w in waiters:
        body = w.body()
        assert w.answer is not None and w.answer[0] == 200
        assert w.answer[1]["task-finished"] == "true"
        assert (body["id"], body["status"], body["attempts"]) == (task.pk, Status.COMPLETED, 1)
        assert "errors" in body and "execution_ms" in body, "the detail view's body"
    assert Task.objects.get(pk=task.pk).status == Status.COMPLETED


def test_wait_times_out_with_the_task_as_it_is_and_stays_in_scope(tenant, other_tenant, daphne, streams) -> None:
    _, raw = keys.issue(tenant)
    _, other = keys.issue(other_tenant)
    task = enqueue("noop", tenant=tenant)

    status, headers, body = request(daphne.port, f"/api/tasks/{task.pk}?wait=0.5", {"X-API-Key": raw})
    assert status == 200 and headers["task-finished"] == "false"
    assert json.loads(body)["status"] == Status.PENDING

    status, headers, body = request(daphne.port, f"/api/tasks/{task.pk}?wait=30", {"X-API-Key": other})
    assert status == 404 and "task-finished" not in headers, "another tenant's task: 404 at once, no wait"
    status, _, body = request(daphne.port, f"/api/tasks/{task.pk}?wait=30")
    assert status == 401

    # gzip through serve for JSON; never for the event stream (a Channels consumer, not a Django response).
    status, headers, body = request(daphne.port, "/api/tasks?expand=payload", {"X-API-Key": raw,
                                                                               "Accept-Encoding": "gzip"})
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert json.loads(gzip.decompress(body))["data"][0]["id"] == task.pk
    events = streams(daphne.port, "/api/sse/events", {"X-API-Key": raw, "Accept-Encoding": "gzip"})
    assert events.status == 200 and "content-encoding" not in events.headers

    for bad in ("0", "61", "soon", "nan", "-1"):
        status, _, body = request(daphne.port, f"/api/tasks/{task.pk}?wait={bad}", {"X-API-Key": raw})
        assert status == 400, bad
        assert [e["field"] for e in json.loads(body)["errors"]] == ["wait"], body


def test_a_finished_task_answers_at_once_and_bad_waits_are_400_through_django(api: Caller) -> None:
    done = add_task(api.tenant, status=Status.COMPLETED)
    answer = api.get(f"/api/tasks/{done.pk}", {"wait": "60"})
    assert answer.status_code == 200 and answer["Task-Finished"] == "true"
    assert "Task-Finished" not in api.get(f"/api/tasks/{done.pk}"), "only with wait="
    bad = api.get(f"/api/tasks/{done.pk}", {"wait": "60.5"})
    assert bad.status_code == 400 and [e["field"] for e in bad.json()["errors"]] == ["wait"]


def test_a_stopping_web_worker_answers_every_wait_at_once(tenant) -> None:
    """``answer_now`` (a web worker stopping): the waits end, each with the task as it is; the real hub
    and database, in-process."""

    async def main() -> None:
        pending = await database_sync_to_async(enqueue, thread_sensitive=False)("noop", tenant=tenant)
        waits = [asyncio.ensure_future(wait.wait_for_task(pending.pk, 60, tenant.pk)) for _ in range(2)]
        await until(lambda: wait.waiting_subscriptions() == 2, what="both waits to subscribe")
        assert not any(w.done() for w in waits)
        wait.answer_now()
        assert await asyncio.gather(*waits) == [False, False], "answered unfinished, long before the 60 s"
        assert wait.waiting_subscriptions() == 0

    try:
        asyncio.run(main())
    finally:
        wait.resume()
