"""Put tasks on the queue from Python: one, or many in one multi-row INSERT.

Inside the caller's ``transaction.atomic()`` an enqueue commits or rolls back with
the caller's own writes; the worker wake-up is sent only once it has committed.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from tenants.models import Tenant

from ..exceptions import InvalidTask
from ..lifecycle import Status
from ..models import Task
from ..notify import wakeup
from ..spec import SPEC_FIELDS, build_many, build_task
from ..store import transitions

__all__ = ["SPEC_FIELDS", "Enqueued", "build_many", "build_task", "enqueue", "enqueue_many", "enqueue_or_get",
           "find_replay", "resolve_tenant", "save_many", "save_task"]


@dataclass(frozen=True, slots=True)
class Enqueued:
    task: Task
    created: bool


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
    """Enqueue one task; with an idempotency key already used, return the original."""
    return save_task(build_task(resolve_tenant(tenant), spec))


def find_replay(tenant: Tenant | int, key: str | None) -> Task | None:
    """The task an idempotency key already created for ``tenant``, if any."""
    if not key:
        return None
    return Task.objects.filter(tenant=tenant, idempotency_key=key).first()


def save_task(task: Task) -> Enqueued:
    """Insert a task built by ``build_task``; an idempotency key already used returns the original."""
    tenant = task.tenant
    if task.idempotency_key:
        existing = Task.objects.filter(tenant=tenant, idempotency_key=task.idempotency_key).first()
        if existing:
            return Enqueued(existing, created=False)
        try:
            with transaction.atomic():
                transitions.insert(task)
        except IntegrityError:
            # A concurrent request with the same key won the race: answer with its task.
            return Enqueued(Task.objects.get(tenant=tenant, idempotency_key=task.idempotency_key), False)
    else:
        with transaction.atomic():
            transitions.insert(task)
    if task.status == Status.PENDING:
        _announce_on_commit()
    return Enqueued(task, created=True)


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


def save_many(tasks: list[Task], *, tenant: Tenant) -> list[Enqueued]:
    """Insert validated tasks in one multi-row INSERT; keys already used return their originals."""
    keys = {t.idempotency_key for t in tasks if t.idempotency_key}
    for _ in range(3):
        existing = {
            t.idempotency_key: t for t in Task.objects.filter(tenant=tenant, idempotency_key__in=keys)
        } if keys else {}
        fresh = [t for t in tasks if not (t.idempotency_key and t.idempotency_key in existing)]
        try:
            with transaction.atomic():
                transitions.insert_many(fresh)
        except IntegrityError:
            if not keys:
                raise  # not an idempotency-key race: a real error
            continue  # a concurrent request took some keys: look them up again
        if any(t.status == Status.PENDING for t in fresh):
            _announce_on_commit()
        return [
            Enqueued(existing[t.idempotency_key], False)
            if t.idempotency_key and t.idempotency_key in existing
            else Enqueued(t, True)
            for t in tasks
        ]
    raise InvalidTask("idempotency_key", "keys kept colliding with concurrent requests; retry the request")


def enqueue_many(specs: Sequence[Mapping[str, Any]], *, tenant: Tenant | str | int) -> list[Enqueued]:
    """Validate every spec (all or nothing), then insert the new ones in one multi-row INSERT."""
    resolved = resolve_tenant(tenant)
    return save_many(build_many(specs, tenant=resolved), tenant=resolved)
