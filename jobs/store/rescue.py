"""Runs whose worker was lost (it died, or stopped renewing its lease) go back to the queue.

A lost run is rarely the task's fault: it uses none of the task's ``max_retries`` and its
type's ``retry_on`` does not apply. A task that keeps losing its worker (a payload that
crashes the process) is re-run with back-off and dead-lettered once more than its
``max_lost`` runs were lost, so it cannot take the fleet down forever. Only runs that had
started count: a prefetched claim whose handler never began is handed back uncharged.
"""

import logging
from datetime import datetime

from django.db import transaction

from .. import clock
from ..conf import conf
from ..exceptions import WorkerLost
from ..lifecycle import Event, Status
from ..models import Task, TaskQuerySet
from ..registry import registry
from ..retry import next_run_at
from . import isolate
from .finish import Outcome, error_entry, error_history

logger = logging.getLogger(__name__)


def max_lost(task: Task) -> int:
    """How many of ``task``'s runs may be lost before it is dead-lettered (its own, its type's, else the conf's)."""
    if task.max_lost is not None:
        return task.max_lost
    task_type = registry.get(task.type) if task.type in registry else None
    if task_type is not None and task_type.max_lost is not None:
        return task_type.max_lost
    return conf().MAX_LOST


def lost(task: Task, reason: str, *, now: datetime) -> Outcome:
    """The outcome of ``task``'s run lost with its worker: re-run (at once the first time, then
    with back-off), or dead-letter past its ``max_lost``."""
    worker = task.worker or ""
    entry = error_entry(task, WorkerLost(reason.format(worker=worker)), worker=worker, now=now, with_traceback=False)
    count = task.lost + 1
    fields = {**error_history(task, entry), "lost": count, "worker": None, "lease_expires_at": None}
    if count > max_lost(task):
        return Outcome(task.pk, task.attempts, Status.FAILED, {**fields, "status": Status.FAILED, "finished_at": now},
                       task)
    if count == 1:
        # Most losses are a deploy or a crash elsewhere in the process: run again at once.
        return Outcome(task.pk, task.attempts, Status.PENDING, {**fields, "status": Status.PENDING}, task,
                       event=Event.RESCUED)
    c = conf()
    run_at = next_run_at(now, count - 1, base=c.RETRY_BASE_DELAY, cap=c.RETRY_MAX_DELAY)
    return Outcome(task.pk, task.attempts, Status.SCHEDULED,
                   {**fields, "status": Status.SCHEDULED, "run_at": run_at}, task, event=Event.RESCUED)


def returned(task: Task) -> Outcome:
    """The outcome of a run rescued before its handler started (prefetched): back to the queue,
    uncharged and with no error entry. ``returned`` makes the next start record itself first."""
    return Outcome(task.pk, task.attempts, Status.PENDING,
                   {"status": Status.PENDING, "returned": task.returned + 1, "worker": None,
                    "lease_expires_at": None}, task, event=Event.RESCUED)


def rescue(qs: TaskQuerySet, *, reason: str, batch: int) -> int:
    """Record the current run of each task in ``qs`` as lost; re-run or dead-letter it."""
    now = clock.now()
    with transaction.atomic():
        tasks = list(
            qs.order_by("id").select_for_update(skip_locked=True)
            .only("id", "tenant_id", "type", "priority", "attempts", "run", "lost", "max_retries", "errors",
                  "errors_dropped", "worker", "created_at", "started_at", "returned", "max_lost",
                  "concurrency_key")[:batch]
        )
        # ``started_at`` is set when the handler starts: a run without one never began. Isolated:
        # a row the database refuses must not fail every rescuer's every round.
        written = isolate.write_all([lost(task, reason, now=now) if task.started_at else returned(task)
                                     for task in tasks], max_rows=max(batch, 1), max_bytes=conf().MAX_WRITE_BYTES)
    if written:
        logger.warning("rescued %d task(s): %s", written, reason.format(worker="(various)"))
    return written
