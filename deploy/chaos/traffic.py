"""The chaos run's HTTP side: the submissions, the hammering during the outage, every status seen."""

from __future__ import annotations

import http.client
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..topology import Topology

#: (index, when it is due on the monotonic clock, the task specs) of one POST /api/tasks/batch.
Batch = tuple[int, float, list[dict[str, Any]]]


@dataclass
class Call:
    """One HTTP request the run made: when, what, where, and the status (0: no response)."""

    at: float
    kind: str
    target: str
    status: int
    detail: str = ""


class Traffic:
    """Requests to the topology, each recorded; the tasks every 2xx acknowledged."""

    def __init__(self, topology: Callable[[], Topology], *, abort: threading.Event, problems: list[str]) -> None:
        self.topology = topology
        self.abort = abort
        self.problems = problems
        self.calls: list[Call] = []
        self.calls_lock = threading.Lock()
        self.acked: dict[str, int] = {}       # idempotency key → task id, from 2xx answers
        self.acked_lock = threading.Lock()

    def record(self, kind: str, target: str, status: int, at: float, detail: str = "") -> None:
        with self.calls_lock:
            self.calls.append(Call(at=at, kind=kind, target=target, status=status, detail=detail))

    def snapshot(self) -> list[Call]:
        with self.calls_lock:
            return list(self.calls)

    def request(self, kind: str, method: str, path: str, body: Any = None, *, web: int | None = None,
                timeout: float = 30) -> tuple[int, Any]:
        topo = self.topology()
        port = topo.web(web).port if web else None
        target = f"web{web}" if web else "nginx"
        at = time.time()
        try:
            status, _, decoded = topo.api(method, path, body, port=port, timeout=timeout)
        except (OSError, http.client.HTTPException) as exc:
            self.record(kind, target, 0, at, type(exc).__name__)
            return 0, None
        detail = ""
        if status >= 500 and isinstance(decoded, dict):
            detail = str(decoded.get("detail", ""))[:200]
        elif status >= 500:
            detail = (decoded[:200].decode(errors="replace") if isinstance(decoded, bytes) else str(decoded)[:200])
        self.record(kind, target, status, at, detail)
        return status, decoded

    def submit_batches(self, batches: queue.Queue[Batch]) -> None:
        while not self.abort.is_set():
            try:
                index, due, specs = batches.get_nowait()
            except queue.Empty:
                return
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            attempt = 0
            while not self.abort.is_set():
                attempt += 1
                status, body = self.request("submit", "POST", "/api/tasks/batch", {"tasks": specs})
                if 200 <= status < 300:
                    with self.acked_lock:
                        for spec, task_id in zip(specs, body["ids"], strict=True):
                            self.acked[spec["idempotency_key"]] = task_id
                    break
                if status in (400, 401, 403, 404, 405, 413, 415):
                    self.problems.append(f"batch {index} was refused with {status}: {body}")
                    break
                # 0 (connection error), 429, 502, 503, 504: the same keys again, shortly.
                time.sleep(min(2.0, 0.1 * attempt))

    def hammer(self, stop: threading.Event, web: int | None, prefix: str) -> None:
        """GET and POST /api/tasks in a loop (through nginx, or on one web instance) until ``stop``."""
        n = 0
        while not stop.is_set() and not self.abort.is_set():
            n += 1
            self.request("hammer-get", "GET", "/api/tasks?page_size=1", web=web, timeout=15)
            key = f"{prefix}-{n}"
            status, body = self.request("hammer-post", "POST", "/api/tasks",
                                        {"type": "noop", "idempotency_key": key}, web=web, timeout=15)
            if 200 <= status < 300:
                with self.acked_lock:
                    self.acked[key] = body["id"]
            time.sleep(0.05)

    def posted_since(self, moment: float) -> bool:
        """Whether a hammering POST got a 2xx at or after ``moment``."""
        with self.calls_lock:
            return any(c.kind == "hammer-post" and 200 <= c.status < 300 and c.at >= moment for c in self.calls)
