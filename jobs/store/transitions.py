"""Every change of ``Task.status`` outside a run's end (that is ``finish.py``).

Each function is one named transition of ``jobs.lifecycle.TRANSITIONS``, guarded by the
status it expects (``WHERE status = …`` under a row lock), so two actors — a worker, an
operator, the rescuer — can never both win; each records its events and rollups through
``effects.record`` in the same transaction.
"""

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime, timedelta

from django.db import models, transaction
from django.db.models import Case, F, Q, Value, When

from .. import clock
from ..conf import conf
from ..lifecycle import WAITING, Event, Status
from ..models import Task, TaskQuerySet
from ..unique import kept
from . import effects, gates, pauses, rows
from .batches import BATCH, id_batches
from .caps import within_caps
from .finish import interrupted, write
from .outbox import change
from .rollups import Finished


def insert(task: Task) -> None:
    """Write a new task (``pending`` or ``scheduled``) in the caller's transaction."""
    gates.ensure_keys([task])
    task.save(force_insert=True)
    effects.record([change(task, Event.CREATED, task.status)])


def insert_many(tasks: list[Task]) -> None:
    """Write new tasks in one multi-row INSERT, in the caller's transaction."""
    gates.ensure_keys(tasks)
    rows.insert(tasks)
    effects.record(change(t, Event.CREATED, t.status) for t in tasks)


def claim(
    *,
    worker: str,
    asks: dict[int, int],
    queues: list[str] | None,
    lease_seconds: float,
    capped: Collection[int] = (),
    at_cap: set[int] | None = None,
    held: list[int] | None = None,
) -> list[Task]:
    """Claim up to ``asks[tenant]`` ready tasks per tenant for ``worker``; one UPDATE.

    Tenants in ``capped`` (those that had a ``max_running`` when the caller last looked) get no
    more than their cap leaves free; the ones it held back are added to ``at_cap``. Paused
    tenants get nothing. The rows the other gates hold back (``gates.admit``) leave the ready
    set in the same transaction; their number is appended to ``held`` (look again at once).
    """
    candidates: list[Task] = []
    paused = pauses.current().tenant_ids
    asks = {t: 0 if t in paused else n for t, n in asks.items()}
    # The lock window spans only these selects and one UPDATE: keep it short,
    # nothing here may wait on anything but the database.
    with transaction.atomic():
        asks = within_caps(asks, [t for t, n in asks.items() if n > 0 and t in capped], at_cap)
        for tenant_id, limit in asks.items():
            if limit <= 0:
                continue
            qs = Task.objects.filter(status=Status.PENDING, tenant_id=tenant_id)
            if queues:
                qs = qs.filter(queue__in=queues)
            candidates.extend(qs.order_by("-priority", "id").select_for_update(skip_locked=True)[:limit])
        if not candidates:
            return []
        now = clock.now()
        admission = gates.admit(candidates, now=now)
        if held is not None and admission.held:
            held.append(admission.held)
        if admission.blocked_keys:
            keys = admission.blocked_keys
            transaction.on_commit(lambda: gates.hand_on(keys))
        claimed = admission.admitted
        if not claimed:
            return []
        lease = now + timedelta(seconds=lease_seconds)
        # Claimed is not started: the attempt is charged, and ``started_at`` set, when the
        # handler starts (``mark_started``, or the run's outcome). A run handed back before
        # that — prefetched when its worker died or drained — costs the task nothing.
        Task.objects.filter(id__in=[t.id for t in claimed], status=Status.PENDING).update(
            status=Status.RUNNING,
            worker=worker,
            run=F("run") + 1,
            started_at=None,
            lease_expires_at=lease,
            cancel_requested=False,
            unique_active=kept(Status.RUNNING),  # a key that counts only while waiting is let go
        )
        for task in claimed:
            task.status = Status.RUNNING
            task.worker = worker
            task.run += 1
            task.started_at = None
            task.lease_expires_at = lease
            task.cancel_requested = False
        effects.record(change(t, Event.STARTED, Status.RUNNING, worker=worker) for t in claimed)
    return claimed


def mark_started(*, worker: str, starts: list[tuple[int, int, datetime]]) -> int:
    """Record that the runs (task id, claim token, handler start) began: each is charged one attempt.

    Batched by the completer (one statement for every run that started since its last write).
    ``started_at IS NULL`` makes it once per run, whichever of this and the outcome lands first.
    """
    if not starts:
        return 0
    by_time: dict[datetime, list[tuple[int, int]]] = defaultdict(list)
    for pk, run, at in starts:
        by_time[at].append((pk, run))
    started = Case(*(When(Q(pk__in=[pk for pk, _ in keys]), then=Value(at)) for at, keys in by_time.items()),
                   output_field=models.DateTimeField())
    return Task.objects.holding(worker, [(pk, run) for pk, run, _ in starts]).filter(started_at=None).update(
        attempts=F("attempts") + 1, started_at=started)


def promote_due(now: datetime, limit: int = 1000) -> int:
    """Move scheduled tasks whose time has come into the ready set."""
    with transaction.atomic():
        rows = list(
            Task.objects.due(now).order_by("run_at").select_for_update(skip_locked=True)
            .only("pk", "tenant_id", "type", "attempts")[:limit]
        )
        if not rows:
            return 0
        # A throttled task's wait for its resource ends here too (the claim checks the token again).
        n = Task.objects.filter(pk__in=[t.pk for t in rows], status=Status.SCHEDULED).update(
            status=Status.PENDING, blocked_on=None)
        effects.record(change(t, Event.PROMOTED, Status.PENDING) for t in rows)
    return n


def renew_leases(*, worker: str, runs: list[tuple[int, int]], lease_seconds: float) -> int:
    """Extend the leases of the runs ``worker`` holds (task id, claim token); one statement per heartbeat."""
    if not runs:
        return 0
    return Task.objects.holding(worker, runs).update(
        lease_expires_at=clock.now() + timedelta(seconds=lease_seconds)
    )


def cancel_waiting(qs: TaskQuerySet, *, batch: int = BATCH) -> int:
    """Cancel the pending/scheduled tasks of ``qs`` at once; return how many."""
    total = 0
    for ids in id_batches(qs.filter(status__in=WAITING), batch):
        now = clock.now()
        with transaction.atomic():
            rows = list(
                Task.objects.filter(pk__in=ids, status__in=WAITING).select_for_update()
                .only("pk", "tenant_id", "type", "priority", "created_at", "attempts")
            )
            total += Task.objects.filter(pk__in=[t.pk for t in rows]).update(
                status=Status.CANCELLED, finished_at=now, lease_expires_at=None, unique_active=kept(Status.CANCELLED)
            )
            effects.record(
                (change(t, Event.CANCELLED, Status.CANCELLED) for t in rows),
                finished=(Finished(t.tenant_id, t.type, t.priority, Status.CANCELLED, t.created_at, None, now)
                          for t in rows),
            )
    return total


def request_cancel(qs: TaskQuerySet, *, batch: int = BATCH) -> int:
    """Ask the running tasks of ``qs`` to stop; return how many now stand asked.

    Their worker's fenced finish records them as cancelled. A task asked before counts
    once, with no second event.
    """
    total = 0
    for ids in id_batches(qs.filter(status=Status.RUNNING), batch):
        with transaction.atomic():
            rows = list(Task.objects.filter(pk__in=ids, status=Status.RUNNING).select_for_update()
                        .only("pk", "tenant_id", "type", "attempts", "cancel_requested"))
            fresh = [t for t in rows if not t.cancel_requested]
            Task.objects.filter(pk__in=[t.pk for t in fresh]).update(cancel_requested=True)
            effects.record(change(t, Event.CANCEL_REQUESTED, Status.RUNNING) for t in fresh)
            total += len(rows)
    return total


REQUEUEABLE = (Status.FAILED, Status.CANCELLED)


def requeue(qs: TaskQuerySet, *, batch: int = BATCH) -> int:
    """Give the failed or cancelled tasks of ``qs`` a fresh set of attempts (history kept)."""
    total = 0
    for ids in id_batches(qs.filter(status__in=REQUEUEABLE), batch):
        with transaction.atomic():
            rows = list(
                Task.objects.filter(pk__in=ids, status__in=REQUEUEABLE).select_for_update()
                .only("pk", "tenant_id", "type", "priority", "status", "created_at", "run_at", "started_at",
                      "finished_at")
            )
            total += Task.objects.filter(pk__in=[t.pk for t in rows]).update(
                status=Status.PENDING,
                attempts=0,
                lost=0,
                returned=0,
                interrupted=0,
                run_at=clock.now(),
                worker=None,
                lease_expires_at=None,
                cancel_requested=False,
                started_at=None,
                finished_at=None,
                result=None,
                # A key let go stays so (never retaken); one held in failed/cancelled and waiting is kept.
                unique_active=kept(Status.PENDING),
            )
            for t in rows:
                t.attempts = 0
            effects.record(
                (change(t, Event.REQUEUED, Status.PENDING) for t in rows),
                # The task is no longer finished: take its finish event back out of the rollups.
                # Its run_at is still the one its last run was claimed with: the same wait comes out.
                unfinished=(Finished(t.tenant_id, t.type, t.priority, t.status, t.created_at, t.started_at,
                                     t.finished_at, t.run_at) for t in rows if t.finished_at is not None),
            )
    return total


def release(*, worker: str, runs: list[tuple[int, int]], started: tuple[Task, ...] = ()) -> int:
    """Hand runs back to the queue at shutdown without charging them; return how many.

    ``runs`` (task id, claim token) never started. ``started`` are tasks whose run was still
    going when the drain ended (their in-memory attempt already counts it): handed back
    uncharged, at most ``JOBS['MAX_INTERRUPTED']`` times per task — the next such run is
    charged as a failed attempt (``finish.interrupted``), so a task longer than any drain
    cannot loop forever.
    """
    limit = conf().MAX_INTERRUPTED
    charged = [t for t in started if t.interrupted >= limit]
    spared = [t for t in started if t.interrupted < limit]
    n = write([interrupted(t, worker=worker) for t in charged], fence=Q(worker=worker)) if charged else 0
    keys = list(runs) + [(t.pk, t.run) for t in spared]
    if not keys:
        return n
    with transaction.atomic():
        rows = list(Task.objects.holding(worker, keys).select_for_update()
                    .only("pk", "tenant_id", "type", "attempts", "interrupted", "concurrency_key"))
        back = {"status": Status.PENDING, "worker": None, "lease_expires_at": None, "started_at": None,
                "unique_active": kept(Status.PENDING)}
        mine = {t.pk: t for t in spared}
        Task.objects.filter(pk__in=[r.pk for r in rows if r.pk not in mine]).update(**back)
        for row in rows:
            if row.pk in mine:
                # Its start may or may not have been recorded yet: write the attempts it had when
                # claimed, whichever it is (at most one row per executor thread).
                Task.objects.filter(pk=row.pk).update(**back, attempts=mine[row.pk].attempts - 1,
                                                      interrupted=row.interrupted + 1)
        effects.record(change(t, Event.RELEASED, Status.PENDING) for t in rows)
        gates.hand_on_after_commit(rows)
    return n + len(rows)
