"""One tenant tries every trick at once; another tenant's tasks keep their queue wait.

MariaDB, Redis, two real worker supervisors and a real daphne. ``mallory`` is configured as
an operator would configure a tenant it does not trust (``max_running``, ``max_pending``, a
rate limit) and then, from many threads at once, hogs slots with long sleeps, asks for
week-long timeouts and a hundred retries, names internal and unknown types and another
tenant's queue, retries its failures in a loop, replays idempotency keys with other bodies,
sends deep payload strings, oversized bodies, deep pages and read floods, and opens streams
without end. ``victim`` meanwhile submits small tasks one by one. Every answer to mallory
is a 4xx (never a 5xx), each defence is seen to answer, mallory never runs more than its cap,
and the victim's tasks wait about as long as they did with mallory idle. Without the caps
mallory's hour-long sleeps would hold every slot, and the victim would wait for an hour.
"""

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from statistics import median
from typing import Any

import pytest

from deploy.topology import http_request
from jobs.lifecycle import Status
from jobs.models import Task
from tenants import keys
from tenants.models import Tenant
from tests.support.processes import DaphneServer, Workers
from tests.support.sse import Stream
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.mariadb, pytest.mark.slow]

THREADS = 4  # per worker process; two supervisors of one process each: 8 slots
MALLORY_CAP = 2


class Calls:
    """Every status mallory got, by trick; a 5xx or a transport error fails the scenario."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_trick: dict[str, Counter[int]] = {}
        self.failures: list[str] = []

    def record(self, trick: str, status: int, body: bytes) -> None:
        with self.lock:
            self.by_trick.setdefault(trick, Counter())[status] += 1
            if status >= 500:
                self.failures.append(f"{trick}: {status} {body[:300]!r}")


def call(port: int, key: str, method: str, path: str, body: Any = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    return http_request(port, method, path, body=body, headers={"X-API-Key": key, **(headers or {})}, timeout=30)


def tricks(port: int, key: str, victim_slug: str, calls: Calls) -> dict[str, Callable[[int], None]]:
    """Each trick makes one attempt per call (``i`` counts the attempts)."""

    def send(trick: str, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> bytes:
        status, _, answer = call(port, key, method, path, body, headers)
        calls.record(trick, status, answer)
        return answer

    def hog(i: int) -> None:
        send("hog", "POST", "/api/tasks", {"type": "sleep", "payload": {"seconds": 3000}})

    def week_timeout(i: int) -> None:
        send("week_timeout", "POST", "/api/tasks", {"type": "sleep", "timeout_seconds": 604800})

    def many_retries(i: int) -> None:
        send("many_retries", "POST", "/api/tasks", {"type": "fail", "max_retries": 100})

    def internal_type(i: int) -> None:
        send("internal_type", "POST", "/api/tasks", {"type": "django_task"})

    def other_queue(i: int) -> None:
        send("other_queue", "POST", "/api/tasks", {"type": "noop", "queue": victim_slug})

    def far_future(i: int) -> None:
        send("far_future", "POST", "/api/tasks", {"type": "noop", "run_at": "9999-01-01T00:00:00+00:00"})

    def retry_loop(i: int) -> None:
        answer = send("retry_loop", "POST", "/api/tasks", {"type": "fail", "max_retries": 0,
                                                           "payload": {"permanent": True}})
        try:
            task_id = json.loads(answer)["id"]
        except (ValueError, KeyError):
            return
        for _ in range(20):
            send("retry_loop", "POST", f"/api/tasks/{task_id}/retry")

    def replay(i: int) -> None:
        send("replay", "POST", "/api/tasks", {"type": "noop", "idempotency_key": f"r{i}"})
        send("replay", "POST", "/api/tasks", {"type": "noop", "priority": 5, "idempotency_key": f"r{i}"})

    def deep_payload(i: int) -> None:
        send("deep_payload", "POST", "/api/tasks", {"type": "noop", "payload": "[" * 30_000 + "]" * 30_000})

    def big_body(i: int) -> None:
        send("big_body", "POST", "/api/tasks/batch", b'{"tasks": [' + b" " * (5 * 1024 * 1024) + b"]}",
             {"Content-Type": "application/json"})

    def deep_page(i: int) -> None:
        send("deep_page", "GET", "/api/tasks?page=100000&sort_by=priority")

    def read_flood(i: int) -> None:
        send("read_flood", "GET", "/api/tasks?q=zzz&status=failed")

    def workers_view(i: int) -> None:
        answer = send("workers_view", "GET", "/api/workers")
        assert b"hostname" not in answer and b'"pid"' not in answer, answer[:300]

    return {f.__name__: f for f in (hog, week_timeout, many_retries, internal_type, other_queue, far_future,
                                    retry_loop, replay, deep_payload, big_body, deep_page, read_flood,
                                    workers_view)}


#: The status each trick must meet at least once: the defence that answers it.
EXPECTED = {
    "hog": {201, 429}, "week_timeout": {400}, "many_retries": {400}, "internal_type": {400},
    "other_queue": {400}, "far_future": {400}, "retry_loop": {429}, "replay": {409}, "deep_payload": {400},
    "big_body": {413}, "deep_page": {400}, "read_flood": {429}, "workers_view": {200},
}


def victim_waits(port: int, key: str, n: int) -> list[float]:
    """Submit ``n`` noops one by one (0.2 s apart); each one's queue wait once it completed, seconds."""
    ids = []
    for _ in range(n):
        status, _, body = call(port, key, "POST", "/api/tasks", {"type": "noop"})
        assert status == 201, body
        ids.append(json.loads(body)["id"])
        time.sleep(0.2)
    wait_for(lambda: Task.objects.filter(pk__in=ids, status=Status.COMPLETED).count() == n,
             timeout=120, interval=0.2, what="the victim's tasks")
    return [(t.started_at - t.created_at).total_seconds() for t in Task.objects.filter(pk__in=ids)]


def test_a_hostile_tenant_gets_only_4xx_and_another_tenants_queue_wait_stays_normal(
        workers: Workers, start_daphne: Callable[..., DaphneServer], tenant: Tenant, other_tenant: Tenant) -> None:
    mallory, victim = tenant, other_tenant
    Tenant.objects.filter(pk=mallory.pk).update(max_running=MALLORY_CAP, max_pending=40, rate_limit=300,
                                                rate_window_seconds=60)
    mallory_key, victim_key = keys.issue(mallory)[1], keys.issue(victim)[1]
    for _ in range(2):
        workers.start("--processes", "1", "--threads", str(THREADS))
    server = start_daphne(JOBS_READ_RATE_LIMIT="100")
    baseline = victim_waits(server.port, victim_key, 15)

    calls, stop = Calls(), threading.Event()
    running_seen: list[int] = []

    def attack(trick: Callable[[int], None]) -> None:
        i = 0
        while not stop.is_set():
            trick(i)
            i += 1

    threads = [threading.Thread(target=attack, args=(t,), daemon=True)
               for t in tricks(server.port, mallory_key, victim.slug, calls).values()]
    for t in threads:
        t.start()

    def watch() -> None:
        while not stop.is_set():
            running_seen.append(Task.objects.filter(tenant=mallory, status=Status.RUNNING).count())
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    # Streams without end: the key's cap answers the sixth and after.
    opened = [Stream(server.port, "/api/sse/events", {"X-API-Key": mallory_key}) for _ in range(8)]
    try:
        for s in opened:
            s.wait(lambda s: s.status is not None, timeout=30, what="a stream's response")
        stream_statuses = Counter(s.status for s in opened)
        time.sleep(3)  # mallory first takes what it can
        under_attack = victim_waits(server.port, victim_key, 30)
    finally:
        stop.set()
        for s in opened:
            s.close()
        for t in [*threads, watcher]:
            t.join(60)

    assert stream_statuses == {200: 5, 429: 3}, stream_statuses
    assert not calls.failures, calls.failures[:5]
    for trick, wanted in EXPECTED.items():
        seen = set(calls.by_trick.get(trick, {}))
        assert wanted & seen, f"{trick}: expected one of {wanted}, got {dict(calls.by_trick.get(trick, {}))}"
    assert max(running_seen) <= MALLORY_CAP, max(running_seen)
    assert Task.objects.filter(tenant=mallory, status=Status.RUNNING).count() <= MALLORY_CAP
    # Mallory's sleeps hold its two slots for the whole run: six stay for everyone else. The
    # margin is seconds where the failure it guards against (no caps) is an hour.
    assert max(under_attack) <= max(baseline) + 5.0, (sorted(under_attack), sorted(baseline))
    assert median(under_attack) <= median(baseline) + 1.0, (sorted(under_attack), sorted(baseline))
