"""Every API operation the clients offer, as a ``Call`` (written once for both clients), and the I/O-free
state machines behind the loops: following cursor pages (``Pager``) and waiting for a result (``Waiter``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, cast

from . import _core
from ._core import Call
from .errors import WaitTimeout
from .models import TERMINAL, BatchCreated, CursorPage, Task, TaskDetail, TaskPage, TaskSubmitted

#: ``GET /api/tasks/{id}?wait=`` holds the answer at most this long (the server's bound).
MAX_WAIT = 60
#: Seconds beyond a long poll's wait before the read times out.
WAIT_SLACK = 10.0


def new_idempotency_key() -> str:
    return str(uuid.uuid4())


def submit(type: str, payload: Mapping[str, Any] | None, options: Mapping[str, Any]) -> Call[TaskSubmitted]:
    """``POST /api/tasks``; an ``idempotency_key`` is made up unless given, so a resend never makes two tasks."""
    spec = _spec(type, payload, options)
    return Call("POST", "/api/tasks", lambda r: cast(TaskSubmitted, _core.read(r)), json=spec)


def submit_batch(tasks: Iterable[Mapping[str, Any]]) -> Call[BatchCreated]:
    """``POST /api/tasks/batch``: every item gets its own idempotency key unless it has one (the API's
    per-item keys), so a resent batch replays its items instead of creating them again."""
    specs = []
    for item in tasks:
        spec = dict(item)
        spec.setdefault("idempotency_key", new_idempotency_key())
        specs.append(spec)
    return Call("POST", "/api/tasks/batch", lambda r: cast(BatchCreated, _core.read(r)), json={"tasks": specs})


def get(task_id: int, *, wait: float | None = None, all: bool = False) -> Call[TaskDetail]:
    params = _core.query({"all": all or None})
    timeout = None
    if wait is not None and wait >= 1:
        seconds = min(int(wait), MAX_WAIT)
        params["wait"] = str(seconds)
        timeout = seconds + WAIT_SLACK
    return Call("GET", f"/api/tasks/{int(task_id)}", lambda r: cast(TaskDetail, _core.read(r)), params=params,
                timeout=timeout)


def cancel(task_id: int, *, all: bool = False) -> Call[Task]:
    """Not replayable: a resend after the first was applied would answer 409 for a task it did cancel."""
    return Call("POST", f"/api/tasks/{int(task_id)}/cancel", lambda r: cast(Task, _core.read(r)),
                params=_core.query({"all": all or None}), replayable=False)


def retry(task_id: int, *, all: bool = False) -> Call[Task]:
    return Call("POST", f"/api/tasks/{int(task_id)}/retry", lambda r: cast(Task, _core.read(r)),
                params=_core.query({"all": all or None}), replayable=False)


def list_page(filters: Mapping[str, Any]) -> Call[TaskPage]:
    """One page-number page of ``GET /api/tasks`` (``page``, ``page_size`` and the filters of docs/API.md)."""
    return Call("GET", "/api/tasks", lambda r: cast(TaskPage, _core.read(r)), params=_core.query(filters))


def cursor_page(filters: Mapping[str, Any], cursor: str) -> Call[CursorPage]:
    return Call("GET", "/api/tasks", lambda r: cast(CursorPage, _core.read(r)),
                params={**_core.query(filters), "cursor": cursor})


class Pager:
    """Follows the keyset pages of ``GET /api/tasks`` (``cursor``, in id order) to the end: every matching
    task once. A page may hold fewer rows than ``page_size``, even none, and still not be the last."""

    def __init__(self, filters: Mapping[str, Any]) -> None:
        if "cursor" in filters or "page" in filters:
            raise TypeError("iter_tasks() pages by cursor itself: pass neither cursor nor page")
        self.filters = {"page_size": 100, **filters}
        self.cursor: str | None = ""  # an empty cursor asks for the first page

    def next_call(self) -> Call[CursorPage] | None:
        return None if self.cursor is None else cursor_page(self.filters, self.cursor)

    def take(self, page: CursorPage) -> list[Task]:
        self.cursor = page.get("next_cursor") or None
        return page["data"]


class Waiter:
    """Reads a task until it is finished (``TERMINAL``) or ``timeout`` seconds have passed.

    Each read is a long poll (``?wait=``, at most ``MAX_WAIT`` s); a server that answers at once (one that
    does not hold the request) is polled every ``poll`` seconds instead, so either way ends on time.
    """

    def __init__(self, task_id: int, timeout: float, poll: float, all: bool = False) -> None:
        self.task_id, self.timeout, self.poll, self.all = task_id, timeout, poll, all
        self.deadline = time.monotonic() + timeout

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def next_call(self) -> Call[TaskDetail]:
        return get(self.task_id, wait=self.remaining(), all=self.all)

    def pause_after(self, task: TaskDetail) -> float | None:
        """None: ``task`` is finished. Else the pause before the next read. Raises ``WaitTimeout``."""
        if task["status"] in TERMINAL:
            return None
        left = self.remaining()
        if left <= 0:
            raise WaitTimeout(task, self.timeout)
        return min(self.poll, left)


def _spec(type: str, payload: Mapping[str, Any] | None, options: Mapping[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": type, **{k: v for k, v in options.items() if v is not None}}
    if payload is not None:
        spec["payload"] = dict(payload)
    if "run_at" in spec and hasattr(spec["run_at"], "isoformat"):
        spec["run_at"] = spec["run_at"].isoformat()
    spec.setdefault("idempotency_key", new_idempotency_key())
    return spec
