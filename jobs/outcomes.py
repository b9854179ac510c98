"""How the end of an attempt is written: one fenced UPDATE per batch of outcomes.

The fence (``status = 'running' AND attempts = n`` plus the holder) means a zombie
worker, a timed-out thread or a task cancelled mid-run never overwrites a newer state.
A cancellation request wins over whatever the handler returned.
"""

import json
import traceback
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from functools import reduce
from operator import or_
from typing import Any

from django.db.models import Case, F, Field, Q, Value, When
from django.utils import timezone

from .conf import conf
from .exceptions import TaskCancelled
from .models import Status, Task
from .registry import TaskType, registry
from .retry import next_run_at, should_retry

TRACEBACK_CHARS = 4000


@dataclass(slots=True)
class Outcome:
    task_id: int
    attempt: int
    status: str
    fields: dict[str, Any] = field(default_factory=dict)


def jsonable(value: Any) -> Any:
    """Return ``value`` if it survives a JSON round trip, else its ``repr``."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return {"repr": repr(value)[:1000]}
    return value


def succeeded(task: Task, result: Any, *, now: datetime | None = None) -> Outcome:
    return Outcome(task.pk, task.attempts, Status.COMPLETED, {
        "status": Status.COMPLETED,
        "result": jsonable(result),
        "finished_at": now or timezone.now(),
        "lease_expires_at": None,
    })


def error_entry(task: Task, exc: BaseException, *, worker: str, now: datetime, with_traceback: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "attempt": task.attempts,
        "at": now.isoformat(),
        "type": type(exc).__name__,
        "message": str(exc)[:2000],
        "worker": worker,
    }
    if with_traceback and exc.__traceback__ is not None:
        entry["traceback"] = "".join(traceback.format_exception(exc))[-TRACEBACK_CHARS:]
    return entry


def failed(task: Task, exc: BaseException, *, worker: str, now: datetime | None = None,
           with_traceback: bool = True) -> Outcome:
    """The outcome of a failed attempt: retry later (``scheduled``) or dead-letter (``failed``)."""
    now = now or timezone.now()
    errors = [*(task.errors or []), error_entry(task, exc, worker=worker, now=now, with_traceback=with_traceback)]
    if isinstance(exc, TaskCancelled):
        return Outcome(task.pk, task.attempts, Status.CANCELLED, {
            "status": Status.CANCELLED, "errors": errors, "finished_at": now, "lease_expires_at": None,
        })
    task_type: TaskType | None = registry.get(task.type) if task.type in registry else None
    if should_retry(exc, attempt=task.attempts, max_retries=task.max_retries, task_type=task_type):
        c = conf()
        base = task_type.backoff if task_type and task_type.backoff is not None else c.RETRY_BASE_DELAY
        return Outcome(task.pk, task.attempts, Status.SCHEDULED, {
            "status": Status.SCHEDULED,
            "errors": errors,
            "run_at": next_run_at(now, task.attempts, base=base, cap=c.RETRY_MAX_DELAY),
            "lease_expires_at": None,
        })
    return Outcome(task.pk, task.attempts, Status.FAILED, {
        "status": Status.FAILED, "errors": errors, "finished_at": now, "lease_expires_at": None,
    })


def _value_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _field(name: str) -> "Field[Any, Any]":
    model_field = Task._meta.get_field(name)
    if not isinstance(model_field, Field):
        raise TypeError(f"Task.{name} is not a concrete field")
    return model_field


def _column(name: str, outcomes: list[Outcome]) -> Any:
    """A CASE expression giving each row its own value for ``name`` (grouped by value)."""
    model_field = _field(name)
    groups: dict[str, tuple[Any, list[int]]] = {}
    for o in outcomes:
        if name in o.fields:
            value = o.fields[name]
            groups.setdefault(_value_key(value), (value, []))[1].append(o.task_id)
    if len(groups) == 1:
        value, ids = next(iter(groups.values()))
        if len(ids) == len(outcomes):
            return Value(value, output_field=model_field)
    whens = [When(pk__in=ids, then=Value(value, output_field=model_field)) for value, ids in groups.values()]
    return Case(*whens, default=F(name), output_field=model_field)


def write(outcomes: list[Outcome], *, fence: Q | None = None) -> int:
    """Write a batch of outcomes in one fenced UPDATE; return how many rows it changed."""
    if not outcomes:
        return 0
    now = timezone.now()
    by_attempt: dict[int, list[int]] = defaultdict(list)
    for o in outcomes:
        by_attempt[o.attempt].append(o.task_id)
    condition = reduce(or_, (Q(pk__in=ids, attempts=attempt) for attempt, ids in by_attempt.items()))
    names = sorted({name for o in outcomes for name in o.fields})
    updates: dict[str, Any] = {name: _column(name, outcomes) for name in names}
    # Cancellation wins over whatever the handler returned.
    updates["status"] = Case(
        When(cancel_requested=True, then=Value(Status.CANCELLED)),
        default=updates["status"],
        output_field=_field("status"),
    )
    updates["finished_at"] = Case(
        When(cancel_requested=True, then=Value(now)),
        default=updates.get("finished_at", F("finished_at")),
        output_field=_field("finished_at"),
    )
    qs = Task.objects.filter(pk__in=[o.task_id for o in outcomes], status=Status.RUNNING).filter(condition)
    if fence is not None:
        qs = qs.filter(fence)
    return qs.update(**updates)
