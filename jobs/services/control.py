"""Operator actions on tasks: cancel and requeue, one task or a set. The only callers of
the store's cancel and requeue transitions: the API, the console, the admin and the CLI
all come here, so each action has one implementation, one count and one wake-up rule
(announced once the transaction commits, never before).

The operator's actions (``cancel``, ``requeue``, ``requeue_failed``) record themselves in the audit
log, in their transaction. The building blocks (``cancel_matching``, ``requeue_matching``,
``requeue_batches``, ``requeue_charged``) do not: a bulk action calls them batch by batch and
records what it did as a whole, once.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count

from tenants import ratelimit
from tenants.models import Tenant

from .. import clock
from ..exceptions import InvalidTransition
from ..lifecycle import Action, Status, can
from ..models import Task, TaskQuerySet
from ..notify import wakeup
from ..store import transitions
from ..store.batches import BATCH, id_batches
from ..store.transitions import REQUEUEABLE
from . import audit, charging


@dataclass(frozen=True, slots=True)
class Cancelled:
    """What a cancel did: waiting tasks cancelled at once, running ones asked to stop."""

    cancelled: int
    asked_to_stop: int

    @property
    def total(self) -> int:
        return self.cancelled + self.asked_to_stop


def _scope(tenant: Tenant | None) -> TaskQuerySet:
    qs = Task.objects.all()
    return qs.filter(tenant=tenant) if tenant is not None else qs


def _announce_on_commit(kind: bytes = wakeup.WORK) -> None:
    transaction.on_commit(lambda: wakeup.announce(kind))


def cancel_matching(qs: TaskQuerySet) -> Cancelled:
    """Cancel every waiting task of ``qs`` and ask every running one to stop.

    The store works in short batch transactions; inside a caller's ``atomic()`` the whole
    action commits (and announces) with it.
    """
    clock.refresh()  # finished_at is compared by other hosts (pruning, rollups)
    cancelled = transitions.cancel_waiting(qs)
    asked = transitions.request_cancel(qs)
    if asked:
        _announce_on_commit(wakeup.CANCEL)
    return Cancelled(cancelled, asked)


def requeue_matching(qs: TaskQuerySet, *, batch: int = BATCH) -> int:
    """Requeue every failed or cancelled task of ``qs`` with fresh attempts; return how many."""
    clock.refresh()  # run_at is compared by other hosts (promotion)
    n = transitions.requeue(qs, batch=batch)
    if n:
        _announce_on_commit()
    return n


@dataclass(frozen=True, slots=True)
class Requeued:
    """What a charged requeue did; ``refused`` says why it stopped early (what was left is untouched)."""

    requeued: int
    refused: str | None = None
    #: With ``refused``: seconds until the refusing window may take the rest (a background job waits).
    retry_after: int | None = None


def requeue_batches(batches: Iterable[list[int]]) -> Requeued:
    """Requeue tasks given as batches of ids (only those still failed or cancelled), each batch
    charged first to its tenants' rate limits, one per task (``charging``): a requeue is new work.

    A batch some tenant's window cannot take stops the action there, so a bulk retry is never a
    way around the limit: the batches before it stay requeued, ``refused`` says who stopped it.
    """
    total = 0
    for ids in batches:
        costs = dict(Task.objects.filter(pk__in=ids, status__in=REQUEUEABLE).order_by().values("tenant_id")
                     .annotate(n=Count("id")).values_list("tenant_id", "n"))
        if not costs:
            continue
        try:
            charges = charging.charge_tenants(costs)
        except charging.NeverFits as exc:
            # More of one tenant's tasks than its whole window holds: no wait admits this batch, so
            # go on in batches the window can hold (each waits its turn), or stop if none can.
            if exc.policy.limit < 1 or len(ids) < 2:
                return Requeued(total, f"tenant {exc.tenant}: its rate limit of {exc.policy.limit} per "
                                       f"{exc.policy.window} s admits no requeue; raise it to go on.")
            rest = requeue_batches(ids[i:i + exc.policy.limit] for i in range(0, len(ids), exc.policy.limit))
            total += rest.requeued
            if rest.refused:
                return Requeued(total, rest.refused, rest.retry_after)
            continue
        except charging.RateLimited as exc:
            return Requeued(total, f"tenant {exc.tenant}: {exc} Retry in {exc.retry_after} s.",
                            max(1, int(exc.retry_after)))
        except ratelimit.RateLimiterUnavailable:
            return Requeued(total, "the rate limiter is unavailable; try again shortly.", 5)
        try:
            total += requeue_matching(Task.objects.filter(pk__in=ids))
        except BaseException:
            charging.refund_all(charges)
            raise
    return Requeued(total)


def requeue_charged(qs: TaskQuerySet, *, batch: int = BATCH) -> Requeued:
    """``requeue_batches`` over the failed or cancelled tasks of ``qs`` (the console's bulk retries)."""
    return requeue_batches(id_batches(qs.filter(status__in=REQUEUEABLE), batch))


def actionable(task_id: int, tenant: Tenant | None, action: Action) -> Task:
    """The task (its id, status and tenant) if ``action`` applies to it now.

    Raises ``Task.DoesNotExist`` (also for another tenant's task) or ``InvalidTransition``.
    """
    task = _scope(tenant).only("pk", "status", "tenant_id").get(pk=task_id)
    if not can(action, task.status):
        raise InvalidTransition(task.pk, task.status, action.value)
    return task


def cancel(task_id: int, *, tenant: Tenant | None = None) -> Task:
    """Cancel a waiting task at once, or ask a running one to stop; records ``task.cancel``.

    Raises ``Task.DoesNotExist`` (also for another tenant's task) and
    ``InvalidTransition`` for a task that has already finished.
    """
    with transaction.atomic():
        before = actionable(task_id, tenant, Action.CANCEL)
        qs = _scope(tenant).filter(pk=task_id)
        done = cancel_matching(qs)
        if not done.total:
            # It finished between the look and the change.
            task = qs.get()
            raise InvalidTransition(task.pk, task.status, Action.CANCEL.value)
        audit.record("task.cancel", target=f"task {task_id}", tenant=before.tenant_id, ids=[task_id],
                     counts={"cancelled": done.cancelled, "asked_to_stop": done.asked_to_stop},
                     detail={"status": before.status})
        return qs.get()


def requeue(task_id: int, *, tenant: Tenant | None = None) -> Task:
    """Put a failed (dead-lettered) or cancelled task back in the queue with fresh attempts (``task.requeue``)."""
    with transaction.atomic():
        before = actionable(task_id, tenant, Action.REQUEUE)
        qs = _scope(tenant).filter(pk=task_id)
        if not requeue_matching(qs):
            task = qs.get()
            raise InvalidTransition(task.pk, task.status, Action.REQUEUE.value)
        audit.record("task.requeue", target=f"task {task_id}", tenant=before.tenant_id, ids=[task_id],
                     counts={"requeued": 1}, detail={"status": before.status})
        return qs.get()


def requeue_failed(*, tenant: Tenant | None = None, type: str | None = None, batch: int = BATCH) -> int:
    """Requeue every dead-lettered task (optionally of one tenant or type), in bounded batches, in one
    transaction with its ``tasks.requeue`` entry (the filter and how many)."""
    qs = _scope(tenant).filter(status=Status.FAILED)
    chosen: dict[str, str] = {"status": Status.FAILED}
    if tenant is not None:
        chosen["tenant"] = tenant.slug
    if type:
        qs = qs.filter(type=type)
        chosen["type"] = type
    with transaction.atomic():
        n = requeue_matching(qs, batch=batch)
        audit.record("tasks.requeue", target="failed tasks", tenant=tenant, filter=chosen, counts={"requeued": n})
    return n
