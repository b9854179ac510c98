"""Why is this task waiting? One reason code, a sentence, the blocking detail and an ETA when one is known.

The reasons are checked in the order a claim would meet them: a pause (an inactive tenant
counts as paused), the tenant's cap, the concurrency key, the resource, then whether any live
worker serves the task's queue and has a free slot. ``manage.py why``, ``GET /api/tasks/{id}/why``
and the console's task page all answer from ``explain``; ``count_by_reason`` gives the overview's
tally of waiting tasks.
"""

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.db.models.lookups import GreaterThanOrEqual

from tenants.models import Tenant

from .. import clock
from ..conf import conf
from ..lifecycle import Status
from ..models import Pause, Task, TaskQuerySet, WorkerProcess
from ..shapes import slots
from ..store import gates, pauses, tokens

#: Every code ``explain`` can answer, waiting ones first.
CODES = ("scheduled", "paused", "tenant_limit", "concurrency_limit", "rate_limit", "no_worker", "busy", "ready",
         "running", "completed", "failed", "cancelled")
WAITING_CODES = CODES[:8]


@dataclass(slots=True)
class Reason:
    code: str
    message: str
    detail: dict[str, Any] = field(default_factory=dict)
    eta: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["eta"] = clock.iso(self.eta) if self.eta else None
        return out


def _ago(at: datetime | None) -> str:
    return at.isoformat(timespec="seconds") if at else "?"


def _pause_of(task: Task, slug: str) -> Pause | None:
    wanted = {(Pause.Kind.TENANT, slug), (Pause.Kind.QUEUE, task.queue), (Pause.Kind.TYPE, task.type)}
    return next((p for p in pauses.current().rows if (p.kind, p.value) in wanted), None)


def _paused(pause: Pause) -> Reason:
    by = f" by {pause.paused_by}" if pause.paused_by else ""
    why = f": {pause.reason}" if pause.reason else ""
    return Reason("paused", f"Its {pause.kind} {pause.value!r} is paused{by} since {_ago(pause.created_at)}{why}.",
                  {"kind": pause.kind, "value": pause.value, "reason": pause.reason, "paused_by": pause.paused_by,
                   "since": clock.iso(pause.created_at)})


def _finished(task: Task) -> Reason:
    code = str(task.status)
    return Reason(code, f"It is {code} (at {_ago(task.finished_at)}): it waits for nothing.",
                  {"finished_at": clock.iso(task.finished_at) if task.finished_at else None})


def _scheduled(task: Task, now: datetime) -> Reason:
    due = task.run_at
    if task.blocked_on == "resource":
        return Reason("rate_limit", f"Its resource {task.resource!r} had no token left: it is due again at "
                      f"{_ago(due)}.", {"resource": task.resource, "next_token_at": clock.iso(due)}, due)
    if task.blocked_on == "snooze":
        what = f"Its handler snoozed it (×{task.snoozed})"
    elif task.attempts and task.errors:
        what = f"Attempt {task.attempts} failed; it retries after its back-off"
    else:
        what = "It was enqueued to run later"
    when = "now: the promoter moves it to the ready set within a moment" if due <= now else _ago(due)
    return Reason("scheduled", f"{what}, at {when}.", {"run_at": clock.iso(due), "snoozed": task.snoozed}, due)


def _key(task: Task) -> Reason:
    holders = list(Task.objects.filter(status=Status.RUNNING, tenant_id=task.tenant_id,
                                       concurrency_key=task.concurrency_key)
                   .order_by("id").values("id", "worker", "started_at")[:20])
    return Reason("concurrency_limit",
                  f"{len(holders)} of the {task.concurrency_limit} slot(s) of its concurrency key "
                  f"{task.concurrency_key!r} are taken; it starts when one of them ends.",
                  {"key": task.concurrency_key, "limit": task.concurrency_limit,
                   "holders": [{**h, "started_at": clock.iso(h["started_at"]) if h["started_at"] else None}
                               for h in holders]})


def _serving(task: Task, now: datetime) -> list[WorkerProcess]:
    alive = WorkerProcess.objects.alive(now, conf().LEASE_SECONDS)
    return [w for w in alive if not w.queues or task.queue in w.queues.split(",")]


def explain(task: Task) -> Reason:
    """Why ``task`` is where it is (waiting or not)."""
    clock.refresh()
    now = clock.now()
    if task.status in (Status.COMPLETED, Status.FAILED, Status.CANCELLED):
        return _finished(task)
    if task.status == Status.RUNNING:
        return Reason("running", f"It is running on {task.worker} since {_ago(task.started_at)} "
                      f"(attempt {task.attempts}).", {"worker": task.worker, "lease_expires_at":
                                                      clock.iso(task.lease_expires_at) if task.lease_expires_at
                                                      else None})
    if task.status == Status.SCHEDULED:
        return _scheduled(task, now)
    tenant = Tenant.objects.only("slug", "max_running", "active").get(pk=task.tenant_id)
    if not tenant.active:
        return Reason("paused", f"Its tenant {tenant.slug!r} is inactive: its waiting tasks start once it is "
                      "active again.", {"kind": "tenant", "value": tenant.slug, "inactive": True})
    pause = _pause_of(task, tenant.slug)
    if pause is not None:
        return _paused(pause)
    if task.status == Status.BLOCKED and task.blocked_on == "key":
        return _key(task)
    if tenant.max_running is not None:
        running = dict(Task.objects.running_by_tenant([tenant.pk])).get(tenant.pk, 0)
        if running >= tenant.max_running:
            return Reason("tenant_limit", f"Its tenant {tenant.slug!r} runs {running} task(s), its cap "
                          f"(max_running {tenant.max_running}); it starts when one of them ends.",
                          {"tenant": tenant.slug, "max_running": tenant.max_running, "running": running})
    if task.concurrency_key is not None:
        used = gates.holders_count([(task.tenant_id, task.concurrency_key)]).get(
            (task.tenant_id, task.concurrency_key), 0)
        if used >= task.concurrency_limit:
            return _key(task)
    if task.resource:
        available, next_at = tokens.state(task.resource, task.tenant_id, now)
        if available <= 0:
            return Reason("rate_limit", f"Its resource {task.resource!r} has no start left in its window; the next "
                          f"one frees at {_ago(next_at)}.", {"resource": task.resource,
                                                            "next_token_at": clock.iso(next_at) if next_at else None},
                          next_at)
    serving = _serving(task, now)
    if not serving:
        return Reason("no_worker", f"No live worker serves its queue {task.queue!r}: start one "
                      f"(manage.py runworkers, or with --queues {task.queue}).", {"queue": task.queue})
    free = sum(1 for w in serving for s in slots(w.slots) if s["task_id"] is None)
    ahead = (Task.objects.filter(status=Status.PENDING, tenant_id=task.tenant_id, priority__gt=task.priority)
             .values("pk")[:1000].count()
             + Task.objects.filter(status=Status.PENDING, tenant_id=task.tenant_id, priority=task.priority,
                                   id__lt=task.pk).values("pk")[:1000].count())
    detail = {"workers": len(serving), "free_slots": free, "ahead_in_tenant": ahead}
    if free == 0:
        return Reason("busy", f"Every slot of the {len(serving)} worker process(es) serving queue {task.queue!r} "
                      f"is busy; {ahead} task(s) of its tenant are ahead of it.", detail)
    return Reason("ready", f"It starts with the next claim ({free} free slot(s); {ahead} task(s) of its tenant "
                  "ahead of it).", detail)


def _at_cap_tenants() -> list[int]:
    capped = dict(Tenant.objects.filter(max_running__isnull=False).values_list("pk", "max_running"))
    if not capped:
        return []
    running = dict(Task.objects.running_by_tenant(list(capped)))
    return [pk for pk, cap in capped.items() if cap is not None and running.get(pk, 0) >= cap]


def _unserved_queues(alive: list[WorkerProcess]) -> Q | None:
    """The condition "no live worker serves its queue" (``None``: some worker serves every queue)."""
    served: set[str] = set()
    for w in alive:
        if not w.queues:
            return None
        served.update(w.queues.split(","))
    return ~Q(queue__in=served) if served else Q()


def _conditions(now: datetime) -> dict[str, Q]:
    """Each waiting code as a condition on the task table, in ``explain``'s order of precedence.

    Each is served by the waiting statuses' index ranges (``status IN (…)``); a pending task
    is counted under the first condition it meets, as ``explain`` would answer.
    """
    paused = pauses.current()
    pending = Q(status__in=[Status.PENDING])
    inactive = list(Tenant.objects.filter(active=False).values_list("pk", flat=True))
    pause = (Q(tenant_id__in=[*paused.tenant_ids, *inactive]) | Q(queue__in=paused.queues)
             | Q(type__in=paused.types))
    at_cap = _at_cap_tenants()
    out = {
        "scheduled": Q(status__in=[Status.SCHEDULED]) & ~Q(blocked_on="resource"),
        "paused": Q(status__in=[Status.BLOCKED], blocked_on="pause") | (pending & pause),
        "tenant_limit": pending & ~pause & Q(tenant_id__in=at_cap),
        "concurrency_limit": Q(status__in=[Status.BLOCKED], blocked_on="key"),
        "rate_limit": Q(status__in=[Status.SCHEDULED], blocked_on="resource"),
    }
    rest = pending & ~pause & ~Q(tenant_id__in=at_cap)
    # A pending task whose key is full (the claim will block it when it meets it): a correlated
    # count over ``task_gate_idx`` for keyed rows only.
    holders = (Task.objects.filter(status=Status.RUNNING, tenant_id=OuterRef("tenant_id"),
                                   concurrency_key=OuterRef("concurrency_key"))
               .order_by().values("tenant_id").annotate(n=Count("id")).values("n"))
    key_full = Q(concurrency_key__isnull=False) & Q(GreaterThanOrEqual(Coalesce(Subquery(holders), 0),
                                                                      F("concurrency_limit")))
    out["concurrency_limit"] |= rest & key_full
    rest &= ~key_full
    alive = list(WorkerProcess.objects.alive(now, conf().LEASE_SECONDS))
    unserved = _unserved_queues(alive)
    if unserved is not None:
        out["no_worker"] = rest & unserved
        rest &= ~unserved
    else:
        out["no_worker"] = Q(pk__in=[])
    free = sum(1 for w in alive for s in slots(w.slots) if s["task_id"] is None)
    out["busy" if free == 0 else "ready"] = rest
    out["ready" if free == 0 else "busy"] = Q(pk__in=[])
    return out


def matching(qs: TaskQuerySet, code: str) -> TaskQuerySet:
    """The tasks of ``qs`` for which ``explain`` would answer ``code`` (the waiting ones in aggregate)."""
    if code in ("running", "completed", "failed", "cancelled"):
        return qs.filter(status__in=[code])
    clock.refresh()
    return qs.filter(_conditions(clock.now())[code])


def count_by_reason(qs: TaskQuerySet | None = None) -> dict[str, int]:
    """How many waiting tasks each waiting reason holds."""
    clock.refresh()
    base = Task.objects.all() if qs is None else qs
    return {code: base.filter(cond).count() for code, cond in _conditions(clock.now()).items()}
