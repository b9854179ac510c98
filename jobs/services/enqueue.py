"""Put tasks on the queue from Python: one, or many in one multi-row INSERT.

Inside the caller's ``transaction.atomic()`` an enqueue commits or rolls back with
the caller's own writes; the worker wake-up is sent only once it has committed.
"""

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from tenants.models import Tenant

from .. import clock
from ..exceptions import InvalidTask
from ..lifecycle import Status
from ..models import Task
from ..notify import wakeup
from ..spec import SPEC_FIELDS, build_many, build_task
from ..store import holders, transitions

__all__ = ["SPEC_FIELDS", "Enqueued", "build_many", "build_task", "enqueue", "enqueue_many", "enqueue_or_get",
           "find_holder", "find_holders", "find_replay", "resolve_tenant", "save_many", "save_task"]


@dataclass(frozen=True, slots=True)
class Enqueued:
    task: Task
    created: bool
    #: Not created because ``task``, a live task of the tenant, holds its ``unique_key`` (not an
    #: idempotency replay: that one is the same request; this is another request for the same work).
    duplicate: bool = False


#: Inserts tried when concurrent requests keep taking the keys (each try reads the winners first).
ATTEMPTS = 5


def resolve_tenant(tenant: Tenant | str | int) -> Tenant:
    if isinstance(tenant, Tenant):
        found: Tenant | None = tenant
    elif isinstance(tenant, int):
        found = Tenant.objects.filter(pk=tenant).first()
    else:
        found = Tenant.objects.filter(slug=tenant).first()
    if found is None:
        raise InvalidTask("tenant", f"unknown tenant {tenant!r}")
    if not found.active:
        raise InvalidTask("tenant", f"tenant {found.slug!r} is inactive")
    return found


def _announce_on_commit() -> None:
    transaction.on_commit(wakeup.announce)


def enqueue_or_get(tenant: Tenant | str | int, spec: Mapping[str, Any]) -> Enqueued:
    """Enqueue one task; with an idempotency key already used return the original, with a unique key
    held by a live task return that task."""
    return save_task(build_task(resolve_tenant(tenant), spec))


def find_replay(tenant: Tenant | int, key: str | None) -> Task | None:
    """The task an idempotency key already created for ``tenant``, if any."""
    if not key:
        return None
    return Task.objects.filter(tenant=tenant, idempotency_key=key).first()


def find_holders(tenant: Tenant | int, keys: Collection[str]) -> dict[str, Task]:
    """The live tasks holding unique ``keys`` for ``tenant``, by key (a passed window lets a key go)."""
    tenant_id = tenant.pk if isinstance(tenant, Tenant) else tenant
    return holders.holders(tenant_id, keys, now=clock.now())


def find_holder(tenant: Tenant | int, key: str | None) -> Task | None:
    """The live task holding unique ``key`` for ``tenant``, if any."""
    return find_holders(tenant, [key]).get(key) if key else None


def save_task(task: Task, *, looked_up: bool = False) -> Enqueued:
    """Insert a task built by ``build_task``: an idempotency key already used returns the original,
    a unique key held by a live task returns that task (``duplicate``).

    ``looked_up``: the caller has just found neither (the API does, to answer a replay uncharged),
    so the first attempt inserts at once; a key taken since is caught by the unique index.
    """
    tenant = task.tenant
    for attempt in range(ATTEMPTS):
        if attempt or not looked_up:
            if replay := find_replay(tenant, task.idempotency_key):
                return Enqueued(replay, created=False)
            if holder := find_holder(tenant, task.unique_active):
                return Enqueued(holder, created=False, duplicate=True)
        try:
            with transaction.atomic():
                transitions.insert(task)
        except IntegrityError:
            if not (task.idempotency_key or task.unique_active):
                raise  # not a key race: a real error
            # A concurrent request took a key: answer with its task (or, gone already, insert again).
            continue
        if task.status == Status.PENDING:
            _announce_on_commit()
        return Enqueued(task, created=True)
    raise _collided(task.unique_active)


def _collided(unique_key: str | None) -> InvalidTask:
    field = "unique_key" if unique_key else "idempotency_key"
    return InvalidTask(field, "keys kept colliding with concurrent requests; retry the request")


def enqueue(type: str, *, tenant: Tenant | str | int, **options: Any) -> Task:
    """Enqueue one task of ``type`` for ``tenant``; see ``SPEC_FIELDS`` for the options.

    ``delay`` (seconds) and ``timeout`` are accepted as short forms of
    ``delay_seconds`` and ``timeout_seconds``.
    """
    if "delay" in options:
        options["delay_seconds"] = options.pop("delay")
    if "timeout" in options:
        options["timeout_seconds"] = options.pop("timeout")
    return enqueue_or_get(tenant, {"type": type, **options}).task


def save_many(tasks: list[Task], *, tenant: Tenant,
              looked_up: tuple[Mapping[str | None, Task], Mapping[str, Task]] | None = None) -> list[Enqueued]:
    """Insert validated tasks in one multi-row INSERT; keys already used return their originals.

    A unique key held by a live task, or by an earlier item of the batch (the first one wins),
    answers with that task (``duplicate``). One lookup per kind of key, one INSERT; a concurrent
    request taking a key makes the whole try roll back (a savepoint) and look again.

    ``looked_up``: the tasks the caller has just found holding the batch's idempotency and unique
    keys (the API does, to charge only new work), used by the first try instead of looking again.
    """
    keys = {t.idempotency_key for t in tasks if t.idempotency_key}
    uniques = {t.unique_active for t in tasks if t.unique_active}
    for attempt in range(ATTEMPTS):
        if attempt == 0 and looked_up is not None:
            existing, held = dict(looked_up[0]), dict(looked_up[1])
        else:
            existing = {
                t.idempotency_key: t for t in Task.objects.filter(tenant=tenant, idempotency_key__in=keys)
            } if keys else {}
            held = find_holders(tenant, uniques)
        results: list[Enqueued | None] = []
        fresh: list[Task] = []
        for t in tasks:
            if t.idempotency_key and t.idempotency_key in existing:
                results.append(Enqueued(existing[t.idempotency_key], False))
            elif t.unique_active and t.unique_active in held:
                results.append(Enqueued(held[t.unique_active], False, duplicate=True))
            else:
                if t.unique_active:
                    held[t.unique_active] = t  # later items of the key answer with this one
                results.append(None)
                fresh.append(t)
        try:
            with transaction.atomic():
                transitions.insert_many(_in_key_order(fresh))
        except IntegrityError:
            if not (keys or uniques):
                raise  # not a key race: a real error
            for t in fresh:
                t.pk = None  # the savepoint took the rows back: insert them afresh next time
            continue  # a concurrent request took some keys: look them up again
        if any(t.status == Status.PENDING for t in fresh):
            _announce_on_commit()
        new = iter(fresh)
        return [r if r is not None else Enqueued(next(new), True) for r in results]
    raise _collided(next(iter(uniques), None))


def _in_key_order(tasks: list[Task]) -> list[Task]:
    """``tasks`` with the ones holding a unique or an idempotency key put in key order (in the places
    they had).

    Two multi-row INSERTs meeting each other's keys in opposite orders deadlock on MariaDB (each
    waits for a key the other wrote first); in one order, the later batch waits on its first
    shared key without holding any other, and is refused once the earlier commits. (The binary
    collation orders keys as Python orders strings.)
    """
    places = [i for i, t in enumerate(tasks) if t.unique_active or t.idempotency_key]
    if len(places) < 2:
        return tasks
    ordered = list(tasks)
    in_order = sorted((tasks[i] for i in places), key=lambda t: (t.unique_active or "", t.idempotency_key or ""))
    for place, task in zip(places, in_order, strict=True):
        ordered[place] = task
    return ordered


def enqueue_many(specs: Sequence[Mapping[str, Any]], *, tenant: Tenant | str | int) -> list[Enqueued]:
    """Validate every spec (all or nothing), then insert the new ones in one multi-row INSERT."""
    resolved = resolve_tenant(tenant)
    return save_many(build_many(specs, tenant=resolved), tenant=resolved)
