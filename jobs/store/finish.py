"""How a run ends: one fenced UPDATE per batch of outcomes (complete, retry, fail,
cancel); ``rescue.py`` builds the outcomes of runs whose worker was lost.

The fence (``status = 'running'``, the run's claim token, plus the holder) means a zombie
worker, a timed-out thread or a task cancelled mid-run never overwrites a newer state.
A cancellation request wins over whatever the handler returned.
"""

import json
import logging
import traceback
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import reduce
from operator import or_
from typing import Any

from django.db import transaction
from django.db.models import Case, F, Field, Q, Value, When

from .. import clock
from ..bounds import result_limit
from ..conf import conf
from ..exceptions import Interrupted, ResultTooLarge, Snoozed, TaskCancelled
from ..lifecycle import Event, Status
from ..models import Task
from ..registry import TaskType, registry
from ..retry import next_run_at, should_retry
from ..shapes import ErrorEntry, append_error, error_text
from ..unique import kept
from . import effects, gates, rollups
from .outbox import change

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Outcome:
    task_id: int
    attempt: int
    status: str
    fields: dict[str, Any] = field(default_factory=dict)
    #: The task as claimed (tenant, type, priority, timestamps), for the rollups.
    task: Task | None = None
    #: The claim token of the run this outcome ends (the task's, when not given).
    run: int | None = None
    #: The handler had been told of a cancellation when it returned (so a success is not "too late").
    cancel_seen: bool = False
    #: Set by ``write``: a cancel arrived after the handler had returned successfully.
    cancel_too_late: bool = False
    #: The event to record, when the resulting status alone does not say it (a rescue).
    event: Event | None = None

    def __post_init__(self) -> None:
        if self.run is None and self.task is not None:
            self.run = self.task.run


def jsonable(value: Any) -> tuple[Any, int]:
    """``value`` if it survives a JSON round trip (else its ``repr``), and its size in bytes."""
    try:
        encoded = json.dumps(value, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError):
        value = {"repr": repr(value)[:1000]}
        encoded = json.dumps(value, ensure_ascii=False)
    try:
        return value, len(encoded.encode())
    except UnicodeEncodeError:  # a lone surrogate: no database can store it
        value = {"repr": repr(value)[:1000]}
        return value, len(json.dumps(value).encode())


def succeeded(task: Task, result: Any, *, now: datetime | None = None) -> Outcome:
    """The outcome of a run that returned ``result``; a result over the limit fails the attempt instead."""
    value, size = jsonable(result)
    limit = result_limit(registry.find(task.type))
    if size > limit:
        # One fat row must never wedge a completer batch (nor slow every read of the task).
        message = (f"result of {size} bytes is over the limit of {limit} (the type's max_result_bytes, "
                   "else JOBS['MAX_RESULT_BYTES'])")
        return failed(task, ResultTooLarge(message), worker=task.worker or "", now=now, with_traceback=False)
    return Outcome(task.pk, task.attempts, Status.COMPLETED, {
        "status": Status.COMPLETED,
        "result": value,
        "finished_at": now or clock.now(),
        "lease_expires_at": None,
    }, task)


def started(outcome: Outcome, task: Task) -> Outcome:
    """Make ``outcome`` also record its run's start (attempt count, handler start), in case the
    completer's batched ``mark_started`` has not landed yet. An outcome that says its attempts
    already keeps them (a snooze gives its attempt back)."""
    outcome.fields.setdefault("attempts", task.attempts)
    outcome.fields["started_at"] = task.started_at
    return outcome


def snoozed(task: Task, seconds: float, *, now: datetime | None = None) -> Outcome:
    """The outcome of a run that called ``ctx.snooze(seconds)``: ``scheduled`` ``seconds`` from now,
    its attempt given back (``task.attempts`` counts this run's start), ``snoozed + 1``.

    ``seconds`` was checked by ``Snoozed``. A cancel requested during the run still wins
    (``write``): the task ends cancelled with this attempt charged.
    """
    now = now or clock.now()
    return Outcome(task.pk, task.attempts, Status.SCHEDULED, {
        "status": Status.SCHEDULED,
        "run_at": now + timedelta(seconds=seconds),
        "lease_expires_at": None,
        "attempts": max(0, task.attempts - 1),
        "snoozed": task.snoozed + 1,
        "blocked_on": "snooze",
    }, task, event=Event.SNOOZED)


def interrupted(task: Task, *, worker: str, now: datetime | None = None) -> Outcome:
    """A run cut off by its worker's drain, once the task has been handed back too often: a failed attempt."""
    limit = conf().MAX_INTERRUPTED
    exc = Interrupted(f"still running when the drain of {worker} ended, after {limit} earlier such run(s)")
    outcome = failed(task, exc, worker=worker, now=now, with_traceback=False)
    outcome.fields["interrupted"] = task.interrupted + 1
    return started(outcome, task)


def error_entry(task: Task, exc: BaseException, *, worker: str, now: datetime, with_traceback: bool) -> ErrorEntry:
    """The entry for a failed attempt, uncut (``error_history`` bounds it with ``shapes.ENTRY_LIMITS``)."""
    entry: ErrorEntry = {
        "attempt": task.attempts,
        "at": now.isoformat(),
        "type": type(exc).__name__,
        "exception_path": f"{type(exc).__module__}.{type(exc).__qualname__}",
        "message": str(exc),
        "worker": worker,
    }
    if with_traceback and exc.__traceback__ is not None:
        entry["traceback"] = "".join(traceback.format_exception(exc))
    return entry


def error_history(task: Task, entry: ErrorEntry) -> dict[str, Any]:
    """The fields that record ``entry`` in the task's bounded history."""
    errors, dropped = append_error(task.errors, entry, keep=conf().ERROR_HISTORY)
    history: dict[str, Any] = {"errors": errors}
    if dropped:
        history["errors_dropped"] = task.errors_dropped + dropped
    return history


def failed(task: Task, exc: BaseException, *, worker: str, now: datetime | None = None,
           with_traceback: bool = True) -> Outcome:
    """The outcome of a failed attempt: retry later (``scheduled``) or dead-letter (``failed``)."""
    now = now or clock.now()
    if isinstance(exc, Snoozed):
        # Every raise from a handler ends here; a snooze is not a failure (no error entry).
        return snoozed(task, exc.seconds, now=now)
    entry = error_entry(task, exc, worker=worker, now=now, with_traceback=with_traceback)
    history = error_history(task, entry)
    if isinstance(exc, TaskCancelled):
        return Outcome(task.pk, task.attempts, Status.CANCELLED, {
            "status": Status.CANCELLED, **history, "finished_at": now, "lease_expires_at": None,
        }, task)
    task_type: TaskType | None = registry.get(task.type) if task.type in registry else None
    # Runs lost with their worker were not the task's fault: they use none of its retries.
    charged = task.attempts - task.lost
    if should_retry(exc, attempt=charged, max_retries=task.max_retries, task_type=task_type):
        c = conf()
        base = task_type.backoff if task_type and task_type.backoff is not None else c.RETRY_BASE_DELAY
        return Outcome(task.pk, task.attempts, Status.SCHEDULED, {
            "status": Status.SCHEDULED,
            **history,
            "run_at": next_run_at(now, charged, base=base, cap=c.RETRY_MAX_DELAY),
            "lease_expires_at": None,
        }, task)
    return Outcome(task.pk, task.attempts, Status.FAILED, {
        "status": Status.FAILED, **history, "finished_at": now, "lease_expires_at": None,
    }, task)


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


#: The event each end of a run records, by the status it leaves the task in.
EVENTS = {
    Status.COMPLETED: Event.COMPLETED,
    Status.SCHEDULED: Event.RETRYING,
    Status.FAILED: Event.FAILED,
    Status.CANCELLED: Event.CANCELLED,
    Status.PENDING: Event.RESCUED,
}


def _event(o: Outcome) -> dict[str, Any]:
    assert o.task is not None  # noqa: S101 — filtered by the caller
    extra: dict[str, Any] = {}
    errors = o.fields.get("errors")
    if errors and o.status != Status.COMPLETED:
        extra["error"] = error_text(errors[-1])[:300]
    if o.cancel_too_late:
        extra["cancel_too_late"] = True
    if o.event is Event.SNOOZED:
        extra["run_at"] = o.fields["run_at"].isoformat()
    return change(o.task, o.event or EVENTS[Status(o.status)], o.status, **extra)


def write(outcomes: list[Outcome], *, fence: Q | None = None) -> int:
    """Write a batch of outcomes in one fenced UPDATE; return how many rows it changed.

    The rows are locked and re-read first, in the same short transaction: that tells
    which outcomes still pass the fence and which tasks were cancelled mid-run, so the
    analytics rollups count exactly what was written.
    """
    if not outcomes:
        return 0
    now = clock.now()
    # The fence: the run this outcome ends must still be the task's current claim. The claim
    # token alone says it (never reused, not even by a requeue); attempts are not part of it,
    # since a run's start may be recorded before its outcome or with it.
    by_run: dict[int | None, list[int]] = defaultdict(list)
    for o in outcomes:
        by_run[o.run].append(o.task_id)
    # An outcome that names no run cannot be fenced, so it is never written.
    condition = reduce(or_, (Q(pk__in=ids if run is not None else [], run=run or 0)
                             for run, ids in by_run.items()))
    qs = Task.objects.filter(pk__in=[o.task_id for o in outcomes], status=Status.RUNNING).filter(condition)
    if fence is not None:
        qs = qs.filter(fence)
    with transaction.atomic():
        # ``run_at`` as claimed: when this run's attempt became due (its queue wait starts there).
        rows = list(qs.select_for_update().values_list("pk", "cancel_requested", "run_at"))
        live, due = {pk: c for pk, c, _ in rows}, {pk: at for pk, _, at in rows}
        batch = [o for o in outcomes if o.task_id in live]
        if not batch:
            return 0
        for o in batch:
            if live[o.task_id] and o.status == Status.COMPLETED and not o.cancel_seen:
                # The handler had returned before anyone told it: its side effects are done, and a
                # "cancelled" task would be retried into running twice. The cancel came too late.
                o.fields["finished_at"] = now
                o.fields["cancel_requested"] = False
                o.cancel_too_late = True
            elif live[o.task_id]:
                # Cancellation wins over a failure, a retry, a snooze, or a run that saw it and returned.
                o.status = Status.CANCELLED
                o.fields.update(status=Status.CANCELLED, finished_at=now, lease_expires_at=None)
                o.fields.pop("run_at", None)
                if o.event is Event.SNOOZED:
                    # The run did happen and ends the task: charged, no snooze counted, no snooze event.
                    o.event = None
                    o.fields.update(attempts=o.attempt)
                    o.fields.pop("snoozed", None)
                    o.fields.pop("blocked_on", None)
            elif "finished_at" in o.fields:
                # One timestamp per batch (a few ms late at most) keeps the UPDATE a single
                # value instead of a CASE arm per row.
                o.fields["finished_at"] = now
        names = sorted({name for o in batch for name in o.fields})
        by_status: dict[str, list[int]] = defaultdict(list)
        for o in batch:
            by_status[o.status].append(o.task_id)
        # A retry stays waiting (its key kept); an end, or a wait its key does not count, lets the key go.
        Task.objects.filter(pk__in=[o.task_id for o in batch]).update(
            **{name: _column(name, batch) for name in names},
            unique_active=kept(next(iter(by_status)) if len(by_status) == 1 else by_status),
        )
        finished, retried = rollups.of_runs(batch, due, now)
        effects.record((_event(o) for o in batch if o.task is not None), finished=finished, retried=retried)
        # The run's end frees its key's slot: the next blocked task of the key becomes ready.
        gates.hand_on_after_commit(o.task for o in batch if o.task is not None)
    return len(batch)
