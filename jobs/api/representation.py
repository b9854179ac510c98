"""A task as the API answers it, built as a plain dict: the request path's serializer.

``TaskSerializer`` and ``TaskDetailSerializer`` (``jobs.api.serializers``) stay the schema's
description of these shapes; building one of them per response costs ≈ 2 ms (a
``ModelSerializer`` rebuilds its fields from the model on every instance), more than the
enqueue's own SQL. These functions write the same fields with the same conversions (DRF's
ISO 8601 date-times with ``Z``, integers, strings, ``null`` for a missing value); a test
(tests/jobs/api/test_lean_path.py) compares them with the serializers for tasks in every state,
so the schema stays true of what is sent.
"""

from datetime import datetime
from typing import Any

from django.utils import timezone

from .. import clock, unique
from ..models import Task
from ..shapes import last_error


def when(value: Any) -> str | None:
    """A date-time as DRF's ``DateTimeField`` writes it: in the current time zone, ISO 8601, UTC as ``Z``."""
    if not value:
        return None
    if isinstance(value, str):
        # Stored as text (an error entry's ``at``): the same format as every other date-time.
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    moment: datetime = value
    moment = moment.astimezone(timezone.get_current_timezone()) if timezone.is_aware(moment) else (
        timezone.make_aware(moment))
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def ms(delta: Any) -> int | None:
    """A duration in whole milliseconds (``null`` without one)."""
    return None if delta is None else round(delta.total_seconds() * 1000)


def task(t: Task, *, now: datetime | None = None) -> dict[str, Any]:
    """``TaskSerializer(t).data`` (``t.tenant`` must be loaded, or only its slug set)."""
    return {
        "id": t.pk,
        "tenant": t.tenant.slug,
        "queue": _str(t.queue),
        "type": _str(t.type),
        "priority": _int(t.priority),
        "payload": t.payload,
        "status": _str(t.status),
        "attempts": _int(t.attempts),
        "max_retries": _int(t.max_retries),
        "lost": _int(t.lost),
        "max_lost": _int(t.max_lost),
        "interrupted": _int(t.interrupted),
        "snoozed": _int(t.snoozed),
        "run_at": when(t.run_at),
        "timeout_seconds": _int(t.timeout),
        "idempotency_key": _str(t.idempotency_key),
        "concurrency_key": _str(t.concurrency_key),
        "concurrency_limit": _int(t.concurrency_limit),
        "resource": _str(t.resource),
        "blocked_on": _str(t.blocked_on),
        "unique_key": _str(t.unique_key),
        "unique_states": unique.groups(t.unique_states),
        "unique_for": unique.window_of(t),
        "unique_until": when(t.unique_until),
        "unique_held": unique.held(t, clock.now() if now is None else now),
        "cancel_requested": bool(t.cancel_requested),
        "result": t.result,
        "last_error": last_error(t.errors),
        "worker": _str(t.worker),
        "created_at": when(t.created_at),
        "started_at": when(t.started_at),
        "finished_at": when(t.finished_at),
    }


#: The fields a list row leaves out unless ``expand=`` names them (``jobs.api.views.reading``).
LEAN = ("payload", "result")


def listed(t: Task, expand: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A list row: ``task(t)`` without the ``LEAN`` fields ``expand`` does not name."""
    row = task(t)
    for name in LEAN:
        if name not in expand:
            del row[name]
    return row


def submitted(t: Task, *, duplicate: bool) -> dict[str, Any]:
    """``TaskSubmittedSerializer``: the task and whether it is the live holder of the request's unique_key."""
    return {**task(t), "duplicate": duplicate}


def _error(entry: dict[str, Any]) -> dict[str, Any]:
    """One ``TaskErrorSerializer`` entry (a missing required field is a ``KeyError``, as it is there)."""
    out = {"attempt": _int(entry["attempt"]), "at": when(entry["at"]), "type": _str(entry["type"]),
           "message": _str(entry["message"]), "worker": _str(entry["worker"])}
    if "traceback" in entry:
        out["traceback"] = _str(entry["traceback"])
    return out


def detail(t: Task) -> dict[str, Any]:
    """``TaskDetailSerializer(t).data``."""
    return {
        **task(t),
        "errors": [_error(e) for e in t.errors],
        "lease_expires_at": when(t.lease_expires_at),
        "queue_wait_ms": ms(t.queue_wait),
        "execution_ms": ms(t.execution_time),
    }
