"""The gates a claim checks after the tenant's cap: pauses, concurrency keys, resources.

``admit`` runs inside the claim's transaction, on the rows the claim has locked. A row whose
gate is closed leaves the claim's index range (``pending``) at once, so blocked work is met
once, never rescanned by every claim:

* its queue or type is paused, or its key has no free slot → ``blocked`` (``blocked_on``
  says which), until the resume or the end of a run of that key unblocks it;
* its resource has no token → ``scheduled`` until the token is due (the promoter brings it back).

A key's slots in use are its ``running`` tasks, counted under the lock of its
``ConcurrencyKey`` row, which every claim of the key holds: only a claim admits, so nothing
over-admits. The fenced write that ends a run (its outcome, the rescue, the release) frees the
slot itself, and hands it on to the key's next blocked task once it commits (``hand_on``).
No counter exists that a crash could leak: a dead worker's slot comes back when the rescue
ends its run.
"""

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import reduce
from operator import or_

from django.db import transaction
from django.db.models import Count, Q

from ..lifecycle import Event, Status
from ..models import ConcurrencyKey, Task
from . import effects, pauses, tokens
from .outbox import change

Pair = tuple[int, str]  # (tenant id, concurrency key)


@dataclass(slots=True)
class Admission:
    """What ``admit`` decided for the rows a claim locked."""

    admitted: list[Task] = field(default_factory=list)
    #: Rows held back (blocked or throttled): the claim may look again at once.
    held: int = 0
    #: Rows left ``pending`` because another claim held their gate's lock: nothing was decided.
    busy: int = 0
    #: The keys this claim blocked tasks of (re-checked once it commits: ``hand_on``).
    blocked_keys: set[Pair] = field(default_factory=set)


def _pairs(pairs: Iterable[Pair], tenant: str = "tenant_id", key: str = "key") -> Q:
    """``(tenant, key) IN pairs``, as one ``key IN (…)`` per tenant (a claim's keys are mostly one
    tenant's: an OR per pair costs the ORM milliseconds to build, and the database a range each)."""
    by_tenant: dict[int, set[str]] = defaultdict(set)
    for t, k in pairs:
        by_tenant[t].add(k)
    return reduce(or_, (Q(**{tenant: t, f"{key}__in": sorted(ks)}) for t, ks in by_tenant.items()))


def admit(candidates: list[Task], *, now: datetime) -> Admission:
    """Which of ``candidates`` (locked, ``pending``) may start now; block or throttle the others."""
    result = Admission()
    paused = pauses.current()
    blocked: dict[str, list[Task]] = defaultdict(list)
    keyed: dict[Pair, list[Task]] = defaultdict(list)
    for task in candidates:
        if paused and paused.blocks(task):
            blocked["pause"].append(task)
        elif task.concurrency_key is not None:
            keyed[(task.tenant_id, task.concurrency_key)].append(task)
        else:
            result.admitted.append(task)
    if keyed:
        _within_keys(keyed, result, blocked)
    if any(t.resource for t in result.admitted):
        _within_resources(result, now)
    for gate, tasks in blocked.items():
        block(tasks, gate=gate)
        result.held += len(tasks)
    return result


def _within_keys(keyed: dict[Pair, list[Task]], result: Admission, blocked: dict[str, list[Task]]) -> None:
    """Admit each key's tasks up to its free slots; block the rest; leave the busy keys' pending.

    The key rows are taken with SKIP LOCKED: this claim holds row locks already, so it must
    not wait (a key locked by another claim or by a run's end is busy for a moment only).
    """
    locked = set(ConcurrencyKey.objects.select_for_update(skip_locked=True).filter(_pairs(keyed))
                 .values_list("tenant_id", "key"))
    missing = set(keyed) - locked
    if missing:
        # Tasks enqueued before their key row existed (or a row another claim is creating):
        # create what is absent, then lock what is free.
        exists = set(ConcurrencyKey.objects.filter(_pairs(missing)).values_list("tenant_id", "key"))
        new = missing - exists
        if new:
            ConcurrencyKey.objects.bulk_create([ConcurrencyKey(tenant_id=t, key=k) for t, k in new],
                                               ignore_conflicts=True)
            locked |= set(ConcurrencyKey.objects.select_for_update(skip_locked=True).filter(_pairs(new))
                          .values_list("tenant_id", "key"))
    for pair in set(keyed) - locked:
        result.busy += len(keyed[pair])
    if not locked:
        return
    running = holders_count(locked)
    for pair in locked:
        used = running.get(pair, 0)
        for task in keyed[pair]:  # in the claim's order: priority, then age
            if used < task.concurrency_limit:
                used += 1
                result.admitted.append(task)
            else:
                blocked["key"].append(task)
                result.blocked_keys.add(pair)


def _within_resources(result: Admission, now: datetime) -> None:
    """Admit what the resources' windows let go now; throttle the rest until their token (``tokens``).

    After the keys: a task throttled here holds no key slot (it is not running), and the
    resource's tokens go only to tasks that would start.
    """
    wants = Counter((t.resource, t.tenant_id) for t in result.admitted if t.resource)
    grants = tokens.take(dict(wants), now)
    used: Counter[tuple[str, int]] = Counter()
    admitted: list[Task] = []
    throttled: list[tuple[Task, datetime]] = []
    for task in result.admitted:
        if not task.resource:
            admitted.append(task)
            continue
        key = (task.resource, task.tenant_id)
        grant = grants[key]
        if grant.busy:
            result.busy += 1
            continue
        i = used[key]
        used[key] += 1
        if i < grant.granted:
            admitted.append(task)
        else:
            throttled.append((task, grant.etas[i - grant.granted]))
    tokens.throttle(throttled)
    result.held += len(throttled)
    result.admitted = admitted


def holders_count(pairs: Iterable[Pair], statuses: tuple[str, ...] = (Status.RUNNING,)) -> dict[Pair, int]:
    """Tasks in ``statuses`` (running: the slots in use) per (tenant, key): a range of ``task_gate_idx`` each."""
    pairs = list(pairs)
    if not pairs:
        return {}
    rows = (Task.objects.filter(status__in=statuses).filter(_pairs(pairs, key="concurrency_key")).order_by()
            .values("tenant_id", "concurrency_key").annotate(n=Count("id"))
            .values_list("tenant_id", "concurrency_key", "n"))
    return {(t, k or ""): n for t, k, n in rows}


def block(tasks: list[Task], *, gate: str) -> None:
    """Park locked ``pending`` rows as ``blocked`` on ``gate`` (``key`` or ``pause``)."""
    if not tasks:
        return
    Task.objects.filter(pk__in=[t.pk for t in tasks], status=Status.PENDING).update(
        status=Status.BLOCKED, blocked_on=gate)
    effects.record(change(t, Event.BLOCKED, Status.BLOCKED, gate=gate) for t in tasks)


def ensure_keys(tasks: Iterable[Task]) -> None:
    """Create the ``ConcurrencyKey`` rows new tasks name (at enqueue; a plain read when they exist)."""
    pairs = {(t.tenant_id, t.concurrency_key) for t in tasks if t.concurrency_key is not None}
    if not pairs:
        return
    pairs -= set(ConcurrencyKey.objects.filter(_pairs(pairs)).values_list("tenant_id", "key"))
    if pairs:
        ConcurrencyKey.objects.bulk_create([ConcurrencyKey(tenant_id=t, key=k) for t, k in pairs],
                                           ignore_conflicts=True)


def hand_on_after_commit(tasks: Iterable[Task]) -> None:
    """Once the transaction ending the runs of ``tasks`` commits, unblock their keys' next tasks."""
    freed = {(t.tenant_id, t.concurrency_key) for t in tasks if t.concurrency_key is not None}
    if freed:
        transaction.on_commit(lambda: hand_on(freed))


def hand_on(pairs: Iterable[Pair]) -> int:
    """Unblock as many blocked tasks of each key as it has free slots; return how many.

    Runs after the transaction that freed a slot (a run's end) or blocked a task (a claim)
    committed, and reads without locks. Between them the two cover every order: a claim
    counts a key's slots under the key's lock, and if it blocks a task while a run of the key
    is ending, either the run's end commits first (the claim's check after its own commit
    sees the slot free) or the claim commits first (the run's check sees the blocked task).
    Both may unblock the same slot: the next claim blocks the extra task again (no
    over-admission is possible: only a claim admits, under the lock).
    """
    pairs = list(pairs)
    if not pairs:
        return 0
    # Most runs' ends find nothing blocked on their key: one read (task_gate_idx) says which do.
    waiting = [(t, k or "") for t, k in Task.objects.filter(status=Status.BLOCKED, blocked_on="key")
               .filter(_pairs(pairs, key="concurrency_key")).order_by()
               .values_list("tenant_id", "concurrency_key").distinct()]
    if not waiting:
        return 0
    # Pending tasks of the key take their slots at their claim: they count as taken.
    used = holders_count(waiting, (Status.RUNNING, Status.PENDING))
    ids: list[int] = []
    for tenant_id, key in waiting:
        head = list(Task.objects.filter(status=Status.BLOCKED, tenant_id=tenant_id, concurrency_key=key,
                                        blocked_on="key").order_by("-priority", "id")
                    .values_list("pk", "concurrency_limit")[:64])
        room = head[0][1] - used.get((tenant_id, key), 0) if head else 0
        ids += [pk for pk, _ in head[:max(0, room)]]
    return unblock(ids)


def unblock(ids: list[int]) -> int:
    """Move blocked rows back to ``pending`` (their gate opened); record it."""
    if not ids:
        return 0
    with transaction.atomic():
        rows = list(Task.objects.filter(pk__in=ids, status=Status.BLOCKED).select_for_update()
                    .only("pk", "tenant_id", "type", "attempts"))
        Task.objects.filter(pk__in=[t.pk for t in rows]).update(status=Status.PENDING, blocked_on=None)
        effects.record(change(t, Event.UNBLOCKED, Status.PENDING) for t in rows)
    return len(rows)


def sweep_keys(limit: int = 200) -> int:
    """Unblock tasks whose key has free slots that no hand-on announced; return how many.

    A safety net, run by the maintenance loop: every path that ends a keyed run or blocks a
    task hands on after its commit, so this finds work only after a limit was raised or when
    a process died between a commit and its hand-on.
    """
    return hand_on([(t, k or "") for t, k in Task.objects.filter(status=Status.BLOCKED, blocked_on="key")
                    .order_by().values_list("tenant_id", "concurrency_key").distinct()[:limit]])
