"""Resource admission: how many of a claim's candidate starts a resource's window lets go now.

Called by the claim, inside its transaction: ``take`` locks each bucket row it needs (SKIP
LOCKED: a bucket another claim holds is *busy* and nothing is decided for it this round),
admits while the bucket's sliding log has room and writes the log back; ``throttle`` parks
the candidates it did not admit as ``scheduled`` until their token is due. ``state`` reads a
bucket without locking it (the CLI, the console).

A resource name that no ``Resource`` row defines does not limit anything: everything asked
is granted (a task may name a resource before an operator defines it).

The log (``ResourceBucket.starts``) holds the admission times, on the database's clock, of
the newest ``rate`` starts still inside the window: only those can decide whether one more
fits ("fewer than ``rate`` in the last ``per_seconds``"), so the row never holds more than
``rate`` numbers, whatever the traffic (hence the cap on ``rate``: ``MAX_RATE``).
"""

import math
from bisect import insort
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import reduce
from operator import or_

from django.db import models, transaction
from django.db.models import Case, Q, Value, When

from ..lifecycle import Event, Status
from ..models import Resource, ResourceBucket, Task
from . import effects
from .outbox import change

#: Seconds added to every window (at most; a tenth of the window for windows under a second).
#: The log records *claim* times, but the handler starts later: the claim still has to commit
#: and the dispatcher to hand the task to an executor thread, 5–15 ms when warm, up to ~100 ms
#: for a process's first claims (cold code paths, CPU contention at start-up; measured by the
#: real-process test). Two admissions ``per_seconds`` apart whose handlers met different delays
#: would start closer than that, and a window drawn over the handlers' starts would see
#: ``rate + 1``. Padding the window by more than the difference keeps any ``per_seconds`` of
#: handler starts within the rate; the cost is ``rate`` per ``per_seconds + guard`` at full load.
GUARD_SECONDS = 0.1


def window(resource: Resource) -> float:
    """The resource's window with its guard, seconds."""
    return resource.per_seconds + min(GUARD_SECONDS, resource.per_seconds / 10)
#: The most starts a resource's window may allow: the log keeps one number per start in the
#: window, in one row rewritten by every claim that admits (10,000 is ~150 kB of JSON). For a
#: higher throughput, use a shorter window (6,000 a minute is 100 a second).
MAX_RATE = 10_000
#: Log entries are kept to the millisecond (smaller rows; the rate is not that precise anyway).
_MS = 1000

Key = tuple[str, int]


@dataclass(slots=True)
class Grant:
    #: How many of the wanted starts may go now.
    granted: int
    #: For the others, in order, when each could start (len == wanted - granted); [] if busy.
    etas: list[datetime]
    #: The bucket row was locked by another claim: nothing decided (the caller leaves them pending).
    busy: bool = False


def _epoch(at: datetime) -> float:
    return at.timestamp()


def _at(epoch: float) -> datetime:
    # Rounded up to the next millisecond: a task promoted at its ETA must find its slot free.
    return datetime.fromtimestamp(math.ceil(epoch * _MS) / _MS, tz=UTC)


def _scope(resource: Resource, tenant_id: int) -> int:
    return tenant_id if resource.per_tenant else 0


def _live(starts: Iterable[float], resource: Resource, t: float) -> list[float]:
    """The entries still inside the (guarded) window at ``t``, oldest first, at most ``rate``.

    Only the newest ``rate`` matter: one more start fits when fewer than ``rate`` are inside,
    so the oldest beyond them (left after a rate was lowered) can never decide anything.
    """
    # An entry within a microsecond of the edge has left (float error must not hold a slot that
    # an ETA computed as entry + window promised free).
    cutoff = t - window(resource) + 1e-6
    live = sorted(float(s) for s in starts if isinstance(s, int | float) and s > cutoff)
    return live[-resource.rate:]


def _admit(log: list[float], resource: Resource, t: float, wanted: int) -> Grant:
    """Admit up to ``wanted`` starts at ``t`` into ``log`` (changed in place); ETAs for the rest.

    The k-th start that does not fit is due when the entry that frees its slot leaves the
    window: with the log and the ETAs before it as one sorted list V (its length m), that is
    V[m - rate] + window, the earlier ETAs counting as starts (they will be, at those times).
    """
    span = window(resource)
    granted = 0
    while granted < wanted and len(log) < resource.rate:
        # In order: a claim that read its clock before another's admitted may hold an earlier time.
        insort(log, t)
        granted += 1
    etas: list[datetime] = []
    if granted < wanted:
        virtual = list(log)
        for _ in range(wanted - granted):
            due = max(t, virtual[len(virtual) - resource.rate] + span)
            virtual.append(due)
            etas.append(_at(due))
    return Grant(granted, etas)


def take(wants: dict[tuple[str, int], int], now: datetime) -> dict[tuple[str, int], Grant]:
    """Called inside the claim's transaction. Keys are (resource name, tenant id) → starts wanted.

    Several keys may share one bucket (a global resource: every tenant's; the same tenant twice
    cannot happen, it is one key): they are granted in the order given, in one window.
    Queries: the resources (one), the buckets (one locking read, plus a read and an insert the
    first time a bucket is needed) and one UPDATE of the buckets that admitted.
    """
    grants: dict[Key, Grant] = {}
    names = {name for (name, _), n in wants.items() if n > 0}
    resources = {r.name: r for r in Resource.objects.filter(name__in=names)} if names else {}
    # The bucket of every key, by (resource id, scope), keys in the order given.
    buckets: dict[tuple[int, int], list[Key]] = defaultdict(list)
    for key, wanted in wants.items():
        name, tenant_id = key
        resource = resources.get(name)
        if wanted <= 0 or resource is None:
            grants[key] = Grant(max(wanted, 0), [])  # an undefined resource does not limit
            continue
        buckets[(resource.pk, _scope(resource, tenant_id))].append(key)
    if not buckets:
        return grants
    locked = _lock(list(buckets))
    by_id = {r.pk: r for r in resources.values()}
    t = round(_epoch(now), 3)
    changed: list[ResourceBucket] = []
    for bucket_key, keys in buckets.items():
        bucket = locked.get(bucket_key)
        if bucket is None:
            for key in keys:
                grants[key] = Grant(0, [], busy=True)
            continue
        resource = by_id[bucket_key[0]]
        log = _live(bucket.starts or [], resource, t)
        admitted = 0
        for key in keys:
            grant = _admit(log, resource, t, wants[key])
            admitted += grant.granted
            grants[key] = grant
        if admitted or log != bucket.starts:
            bucket.starts = log
            changed.append(bucket)
    if changed:
        ResourceBucket.objects.bulk_update(changed, ["starts"])
    return grants


def _pairs(keys: Iterable[tuple[int, int]]) -> Q:
    return reduce(or_, (Q(resource_id=r, scope=s) for r, s in keys))


def _lock(keys: list[tuple[int, int]]) -> dict[tuple[int, int], ResourceBucket]:
    """Lock the buckets of ``keys`` (SKIP LOCKED), creating the missing ones first; the busy ones are absent.

    The locking read cannot tell a missing row from a row another claim holds, so only the
    keys it did not return are looked up (a plain read, no lock: it never waits), and only
    rows that do not exist are inserted. Inserting a row that exists and is locked would wait
    for that claim's transaction to end (the duplicate-key check takes a lock on it); that is
    avoided, and what is left — two claims inserting the same new bucket at the same moment,
    the second waiting for the first to commit — happens once per bucket, while the first
    claim needs nothing the second holds (its tasks are SKIP LOCKED apart).
    """
    qs = ResourceBucket.objects.select_for_update(skip_locked=True)
    locked = {(b.resource_id, b.scope): b for b in qs.filter(_pairs(keys))}
    missing = [k for k in keys if k not in locked]
    if not missing:
        return locked
    exist = set(ResourceBucket.objects.filter(_pairs(missing)).values_list("resource_id", "scope"))
    new = [k for k in missing if k not in exist]
    if new:
        ResourceBucket.objects.bulk_create([ResourceBucket(resource_id=r, scope=s, starts=[]) for r, s in new],
                                           ignore_conflicts=True)
        locked.update({(b.resource_id, b.scope): b for b in qs.filter(_pairs(new))})
    return locked


def throttle(tasks_with_etas: Iterable[tuple[Task, datetime]]) -> list[Task]:
    """Park pending tasks a resource did not admit: ``scheduled`` until their ETA, ``blocked_on='resource'``.

    In the caller's transaction (the claim's). Fenced on ``pending`` under the row lock, so a
    task cancelled meanwhile is left alone; no attempt is charged. Returns the tasks parked.
    """
    etas = {task.pk: (task, eta) for task, eta in tasks_with_etas}
    if not etas:
        return []
    with transaction.atomic(savepoint=False):
        ids = list(Task.objects.select_for_update().filter(pk__in=list(etas), status=Status.PENDING)
                   .values_list("pk", flat=True))
        if not ids:
            return []
        run_at = Case(*(When(pk=pk, then=Value(etas[pk][1])) for pk in ids), output_field=models.DateTimeField())
        Task.objects.filter(pk__in=ids).update(status=Status.SCHEDULED, run_at=run_at, blocked_on="resource")
        parked = []
        for pk in ids:
            task, eta = etas[pk]
            task.status, task.run_at, task.blocked_on = Status.SCHEDULED, eta, "resource"
            parked.append(task)
        effects.record(change(t, Event.THROTTLED, Status.SCHEDULED, resource=t.resource, run_at=t.run_at.isoformat())
                       for t in parked)
    return parked


def state(resource: Resource | str, scope: int, now: datetime) -> tuple[int, datetime | None]:
    """(starts available now, when the next one frees if none is) for one bucket; no lock taken.

    ``scope`` is a tenant's id for a per-tenant resource (0 otherwise). An undefined resource
    does not limit: ``(MAX_RATE, None)``.
    """
    if isinstance(resource, str):
        found = Resource.objects.filter(name=resource).first()
        if found is None:
            return MAX_RATE, None
        resource = found
    starts = ResourceBucket.objects.filter(resource=resource, scope=scope if resource.per_tenant else 0).values_list(
        "starts", flat=True).first() or []
    return available_in(resource, starts, now)


def available_in(resource: Resource, starts: Iterable[float], now: datetime) -> tuple[int, datetime | None]:
    """``state`` of a bucket whose log is ``starts`` (read by the caller)."""
    log = _live(starts, resource, _epoch(now))
    available = resource.rate - len(log)
    if available > 0:
        return available, None
    return 0, _at(log[len(log) - resource.rate] + window(resource))
