"""The API's answers as typed dicts, field for field from its OpenAPI schema (``GET /api/schema/``).

Typed dicts rather than classes: a response is handed over as the JSON it is, so a field the server
adds later is still there, and nothing is copied. Timestamps are ISO 8601 strings, as sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, NotRequired, TypedDict

Status = Literal["pending", "scheduled", "blocked", "running", "completed", "failed", "cancelled"]

#: Statuses a task never leaves on its own (only an operator's retry moves failed and cancelled ones on).
TERMINAL: frozenset[str] = frozenset({"completed", "failed", "cancelled"})


class FieldError(TypedDict):
    field: str
    message: str


class Problem(TypedDict):
    """An RFC 9457 problem document: every error the API answers."""

    type: str
    title: str
    status: int
    detail: str
    errors: NotRequired[list[FieldError]]
    current_status: NotRequired[str]
    retry_after: NotRequired[int]


class Task(TypedDict):
    id: int
    tenant: str
    queue: str
    type: str
    priority: int
    payload: Any
    status: Status
    attempts: int
    max_retries: int
    lost: int
    max_lost: int | None
    interrupted: int
    snoozed: int
    run_at: str
    timeout_seconds: int
    idempotency_key: str | None
    concurrency_key: str | None
    concurrency_limit: int
    resource: str | None
    blocked_on: str | None
    unique_key: str | None
    unique_states: list[str]
    unique_for: int | None
    unique_until: str | None
    unique_held: bool
    cancel_requested: bool
    result: Any
    last_error: str | None
    worker: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None


class TaskSubmitted(Task):
    """``POST /api/tasks``: the task, and whether a live holder of its ``unique_key`` answered instead."""

    duplicate: bool


class TaskError(TypedDict):
    attempt: int
    at: str
    type: str
    message: str
    worker: str
    traceback: NotRequired[str]


class TaskDetail(Task):
    """``GET /api/tasks/{id}``: the task with its failed attempts and timings."""

    errors: list[TaskError]
    lease_expires_at: str | None
    queue_wait_ms: int | None
    execution_ms: int | None


class BatchCreated(TypedDict):
    created: int
    ids: list[int]
    replayed: list[int]
    duplicate: list[int]


class TaskPage(TypedDict):
    """A page-number page of ``GET /api/tasks``."""

    data: list[Task]
    page_size: int
    total: int
    total_exact: bool
    page: int
    total_pages: int


class CursorPage(TypedDict):
    """A keyset page of ``GET /api/tasks?cursor=``; ``next_cursor`` is None after the last one."""

    data: list[Task]
    page_size: int
    next_cursor: str | None


class Change(TypedDict):
    """One state change inside a ``tasks`` event."""

    event: str
    task: int
    type: str
    status: Status
    attempt: int


@dataclass(frozen=True)
class Event:
    """One message of the event stream: ``event`` is ``tasks`` (``data``: seq, tenant, changes) or ``reset``
    (``data``: reason, detail, resync — reload what you show, then carry on with the events that follow)."""

    event: str
    data: Any
    id: int | None = None

    @property
    def is_reset(self) -> bool:
        return self.event == "reset"

    @property
    def seq(self) -> int | None:
        return self.data.get("seq") if self.event == "tasks" and isinstance(self.data, dict) else None

    @property
    def changes(self) -> list[Change]:
        if self.event != "tasks" or not isinstance(self.data, dict):
            return []
        return list(self.data.get("changes", []))

    @classmethod
    def parse(cls, event: str, data: str, id: int | None) -> Event:
        try:
            value: Any = json.loads(data)
        except ValueError:
            value = data  # not JSON: handed over as the text sent
        return cls(event=event, data=value, id=id)
