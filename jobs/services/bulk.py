"""Bulk actions in the background: cancel or retry every task a filter matches, or requeue a
dead-letter group, as a task of the engine itself (``engine.bulk``), in bounded batches.

The request that starts one answers at once with the action's id; the console and
``GET /api/bulk/{id}`` show its progress. Each batch changes its tasks and adds to the
progress in one transaction, so a run cut off by a lost worker resumes where it stopped
(the selection only shrinks: a task already changed no longer matches). The action acts
only on ids up to ``cutoff_id`` — what its confirmation counted, never what arrived since.

A second click on the same action (same kind, tenant and filter) while the first is
waiting or running finds the first: the job's task carries a unique key.
"""

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F

from tenants.models import Tenant

from .. import actor as actors
from .. import clock
from ..conf import conf
from ..context import TaskContext
from ..lifecycle import Action, Status
from ..models import BulkAction, Task, TaskQuerySet
from . import audit, control, deadletter, enqueue, listing

#: The internal task type that runs bulk actions.
BULK_TYPE = "engine.bulk"
#: The tenant that owns the engine's own work, so an operator's bulk job never takes a
#: customer tenant's capacity, rate limit or caps.
SYSTEM_TENANT = "_engine"
#: The audit action each kind records when it ends.
AUDIT_ACTIONS = {BulkAction.Kind.CANCEL: "tasks.cancel", BulkAction.Kind.RETRY: "tasks.requeue",
                 BulkAction.Kind.REQUEUE_DEAD: "deadletter.requeue"}
#: The operator action each kind performs (what its selection must be able to take).
ACTIONS = {BulkAction.Kind.CANCEL: Action.CANCEL, BulkAction.Kind.RETRY: Action.REQUEUE,
           BulkAction.Kind.REQUEUE_DEAD: Action.REQUEUE}
#: Rate-limit refusals a retry waits out (snoozing its job) before it stops and says why.
MAX_WAITS = 20
FINAL = (BulkAction.State.DONE, BulkAction.State.STOPPED, BulkAction.State.FAILED)
GROUP_FIELDS = ("type", "error_type", "error_message")
#: A dead-letter group's optional finish bound: the latest finish its confirmation counted (ISO 8601).
GROUP_FINISHED = "finished_upto"


class InvalidSelection(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Started:
    bulk: BulkAction
    #: False: the same action was already waiting or running; ``bulk`` is that one.
    created: bool


def system_tenant() -> Tenant:
    tenant, _ = Tenant.objects.get_or_create(slug=SYSTEM_TENANT, defaults={"name": "Engine (internal work)"})
    return tenant


def _key(kind: str, tenant_id: int | None, filter: dict[str, Any]) -> str:
    canonical = json.dumps([kind, tenant_id, filter], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def matching(kind: str, filter: dict[str, Any], tenant: Tenant | int | None) -> TaskQuerySet:
    """The tasks ``kind`` would change now under ``filter`` (the task list's filters, or a group)."""
    if kind not in BulkAction.Kind.values:
        raise InvalidSelection("action", f"must be one of {', '.join(BulkAction.Kind.values)}")
    known = ((*GROUP_FIELDS, GROUP_FINISHED) if kind == BulkAction.Kind.REQUEUE_DEAD
             else tuple(listing.TaskFilter.base_filters))
    unknown = sorted(set(filter) - set(known))
    if unknown:
        raise InvalidSelection(f"filter.{unknown[0]}", f"not a filter (one of {', '.join(known)})")
    if kind == BulkAction.Kind.REQUEUE_DEAD:
        missing = [f for f in GROUP_FIELDS if not isinstance(filter.get(f), str)]
        if missing or not filter.get("type"):
            raise InvalidSelection("filter", "a dead-letter group is its type, error_type and error_message")
        _finished(filter)  # refuses a bad bound
        qs = Task.objects.failed().filter(type=filter["type"])
    else:
        bound = listing.TaskFilter(dict(filter), queryset=Task.objects.all())
        if not bound.is_valid():
            name, errors = next(iter(bound.errors.items()))
            raise InvalidSelection(f"filter.{name}", "; ".join(errors))
        qs = listing.actionable(bound.qs, ACTIONS[BulkAction.Kind(kind)])
    if tenant is not None:
        qs = qs.filter(tenant=tenant)
    return qs


def cutoff(kind: str, filter: dict[str, Any], tenant: Tenant | int | None) -> tuple[int, int, bool]:
    """(the newest matching id, how many match counting at most the console's cap, whether more do)."""
    qs = matching(kind, filter, tenant)  # also refuses a bad selection
    if kind == BulkAction.Kind.REQUEUE_DEAD:
        # The group is its last error too, which only the scan reads (``deadletter.group_batches``).
        upto = total = 0
        for ids in _group(filter, tenant.pk if isinstance(tenant, Tenant) else tenant, None):
            upto, total = max(upto, ids[-1]), total + len(ids)
        return upto, min(total, listing.ACTION_COUNT_CAP), total > listing.ACTION_COUNT_CAP
    upto = qs.order_by("-id").values_list("id", flat=True).first() or 0
    count, more = listing.bounded_count(qs, listing.ACTION_COUNT_CAP)
    return upto, count, more


def start(kind: str, *, filter: dict[str, Any], tenant: Tenant | None, cutoff_id: int,
          expected: int = 0) -> Started:
    """Start ``kind`` over what ``filter`` matches up to ``cutoff_id``, as whoever is acting
    (``jobs.actor``); the same action already under way is returned instead of a second one."""
    matching(kind, filter, tenant)  # refuse a bad selection now, not in the background
    key = _key(kind, tenant.pk if tenant else None, filter)
    with transaction.atomic():
        job = enqueue.build_task(system_tenant(), {
            "type": BULK_TYPE, "payload": {"kind": kind}, "unique_key": f"bulk:{key}", "max_retries": 3})
        done = enqueue.save_task(job)
        if not done.created:
            return Started(BulkAction.objects.get(task=done.task), False)
        bulk = BulkAction.objects.create(kind=kind, tenant=tenant, filter=filter, cutoff_id=cutoff_id,
                                         expected=expected, actor=actors.current().as_dict(), key=key,
                                         task=done.task)
    return Started(bulk, True)


def _finished(filter: dict[str, Any]) -> datetime | None:
    """A group's finish bound, if it has one."""
    raw = filter.get(GROUP_FINISHED)
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise InvalidSelection(f"filter.{GROUP_FINISHED}", "must be an ISO 8601 time with its offset")
    return moment


def _group(filter: dict[str, Any], tenant_id: int | None, upto: int | None) -> Iterator[list[int]]:
    return deadletter.group_batches(*(filter[f] for f in GROUP_FIELDS), upto=upto, tenant_id=tenant_id,
                                    finished=_finished(filter))


def _batches(bulk: BulkAction) -> Iterator[list[int]]:
    """Ids still to change, ascending, at most ``BULK_BATCH`` at a time, up to the cutoff."""
    size = conf().BULK_BATCH
    if bulk.kind == BulkAction.Kind.REQUEUE_DEAD:
        for ids in _group(bulk.filter, bulk.tenant_id, bulk.cutoff_id):
            for i in range(0, len(ids), size):
                yield ids[i:i + size]
        return
    qs = matching(bulk.kind, bulk.filter, bulk.tenant_id).filter(pk__lte=bulk.cutoff_id)
    last = 0
    while ids := list(qs.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:size]):
        last = ids[-1]
        yield ids


def _apply(bulk: BulkAction, ids: list[int]) -> tuple[int, str | None, int | None]:
    """Change one batch; (how many changed, why it stopped, seconds until it may go on)."""
    qs = Task.objects.filter(pk__in=ids)
    if bulk.kind == BulkAction.Kind.CANCEL:
        return control.cancel_matching(qs).total, None, None
    done = control.requeue_batches([ids])
    return done.requeued, done.refused, done.retry_after


def _count(bulk: BulkAction) -> int:
    """How many tasks the selection holds now, up to the cutoff (exact: the job reads them all anyway)."""
    if bulk.kind == BulkAction.Kind.REQUEUE_DEAD:
        return sum(len(ids) for ids in _group(bulk.filter, bulk.tenant_id, bulk.cutoff_id))
    return matching(bulk.kind, bulk.filter, bulk.tenant_id).filter(pk__lte=bulk.cutoff_id).count()


def run(ctx: TaskContext) -> dict[str, Any]:
    """The ``engine.bulk`` handler: work through the selection batch by batch, then finish."""
    bulk = BulkAction.objects.select_related("task").get(task_id=ctx.task_id)
    if bulk.state in FINAL:
        return summary(bulk)
    if bulk.state == BulkAction.State.QUEUED:
        # What the run will work through (the confirmation's count was capped, and time has passed).
        bulk.expected = _count(bulk)
        BulkAction.objects.filter(pk=bulk.pk).update(state=BulkAction.State.RUNNING, expected=bulk.expected)
    for ids in _batches(bulk):
        if ctx.cancelled:
            return finish(bulk.pk, BulkAction.State.STOPPED, "stopped by an operator")
        with transaction.atomic():
            changed, refused, wait = _apply(bulk, ids)
            BulkAction.objects.filter(pk=bulk.pk).update(done=F("done") + changed)
        if refused is not None:
            waits = Task.objects.filter(pk=ctx.task_id).values_list("snoozed", flat=True).first() or 0
            if wait is not None and waits < MAX_WAITS:
                BulkAction.objects.filter(pk=bulk.pk).update(message=f"waiting {wait} s: {refused}")
                ctx.snooze(wait)  # the rest goes on once the windows have room (the run ends here)
            return finish(bulk.pk, BulkAction.State.STOPPED, refused)
    return finish(bulk.pk, BulkAction.State.DONE, "")


def finish(pk: int, state: str, message: str) -> dict[str, Any]:
    """Record the end and its audit entry in one transaction; return the summary."""
    with transaction.atomic():
        bulk = BulkAction.objects.select_for_update().get(pk=pk)
        skipped = max(0, bulk.expected - bulk.done) if state == BulkAction.State.DONE else 0
        bulk.state, bulk.message, bulk.skipped, bulk.finished_at = state, message[:500], skipped, clock.now()
        bulk.save(update_fields=["state", "message", "skipped", "finished_at", "updated_at"])
        audit.record(
            AUDIT_ACTIONS[BulkAction.Kind(bulk.kind)], target=f"bulk action {bulk.pk}", tenant=bulk.tenant_id,
            filter=bulk.filter, counts={"expected": bulk.expected, "changed": bulk.done, "skipped": skipped},
            detail={"bulk": bulk.pk, "cutoff_id": bulk.cutoff_id, "state": state, "message": message},
            actor=actors.Actor.from_dict(bulk.actor),
        )
    return summary(bulk)


def state_of(bulk: BulkAction) -> str:
    """Its state, as its job's task tells it when the job ended without saying (dead-lettered)."""
    if bulk.state in FINAL or bulk.task is None:
        return bulk.state
    if bulk.task.status == Status.FAILED:
        return BulkAction.State.FAILED
    if bulk.task.status == Status.CANCELLED:
        return BulkAction.State.STOPPED
    return bulk.state


def summary(bulk: BulkAction) -> dict[str, Any]:
    return {"id": bulk.pk, "kind": bulk.kind, "state": state_of(bulk), "expected": bulk.expected,
            "done": bulk.done, "skipped": bulk.skipped, "message": bulk.message}
