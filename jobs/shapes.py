"""The JSON the engine stores, typed: per-attempt error entries (``Task.errors``) and
executor slots (``WorkerProcess.slots``), with the one decoder each reader uses.

Stored JSON outlives the code that wrote it (and tests write it by hand), so the
decoders accept missing keys and skip anything that is not an object.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NotRequired, TypedDict, cast

from django.utils.dateparse import parse_datetime


class ErrorEntry(TypedDict):
    """One failed attempt, appended to ``Task.errors`` by ``jobs.store.finish``."""

    attempt: int
    at: str
    type: str
    exception_path: NotRequired[str]
    message: str
    worker: str
    traceback: NotRequired[str]


class Slot(TypedDict):
    """One executor slot of a worker process (``jobs.worker.pool`` snapshot)."""

    slot: int
    task_id: int | None
    type: str | None
    tenant_id: int | None
    started_at: str | None


def error_text(entry: Mapping[str, Any] | None) -> str:
    """``Type: message`` (or whichever of the two is recorded; empty when neither)."""
    if not entry:
        return ""
    kind, message = entry.get("type") or "", entry.get("message") or ""
    return f"{kind}: {message}" if kind and message else str(kind or message)


def last_error(errors: Any) -> str | None:
    """The latest attempt's error as text, ``None`` when no attempt failed."""
    entries = error_entries(errors)
    return error_text(entries[-1]) if entries else None


def error_entries(errors: Any) -> list[ErrorEntry]:
    """``Task.errors`` as typed entries (anything not an object is skipped)."""
    if not isinstance(errors, list):
        return []
    return [cast(ErrorEntry, {**e, "at": e.get("at") or "", "type": e.get("type") or "",
                              "message": e.get("message") or "", "worker": e.get("worker") or ""})
            for e in errors if isinstance(e, dict)]


def slots(raw: Any) -> list[Slot]:
    """``WorkerProcess.slots`` as typed slots, numbered by position where the number is missing."""
    if not isinstance(raw, list):
        return []
    out: list[Slot] = []
    for index, s in enumerate(s for s in raw if isinstance(s, dict)):
        tenant_id = s.get("tenant_id")
        out.append(Slot(slot=s.get("slot", index), task_id=s.get("task_id"), type=s.get("type"),
                        tenant_id=tenant_id if isinstance(tenant_id, int) else None,
                        started_at=s.get("started_at")))
    return out


def slot_started(slot: Slot) -> datetime | None:
    """When the slot's current run started."""
    return parse_datetime(slot["started_at"]) if slot["started_at"] else None


#: Fields of an error entry are cut to these lengths (a handler's exception text is not ours to trust).
ENTRY_LIMITS = {"type": 200, "exception_path": 300, "message": 2000, "worker": 120, "traceback": 4000}


def bounded_entry(entry: ErrorEntry) -> ErrorEntry:
    """``entry`` with every text field within ``ENTRY_LIMITS`` (tracebacks keep their end: the raise)."""
    out = dict(entry)
    for name, limit in ENTRY_LIMITS.items():
        value = out.get(name)
        if isinstance(value, str) and len(value) > limit:
            out[name] = value[-limit:] if name == "traceback" else value[:limit]
    return cast(ErrorEntry, out)


def append_error(errors: Any, entry: ErrorEntry, *, keep: int) -> tuple[list[ErrorEntry], int]:
    """The history with ``entry`` added, and how many entries that dropped from its middle.

    Kept: the first entry and the latest ``keep``, so a task that fails forever cannot grow
    its row until no UPDATE can carry it.
    """
    history = [*error_entries(errors), bounded_entry(entry)]
    if len(history) <= keep + 1:
        return history, 0
    return [history[0], *history[-keep:]], len(history) - keep - 1
