"""Put tasks on the queue from Python: one, or many in one multi-row INSERT.

Inside the caller's ``transaction.atomic()`` an enqueue commits or rolls back with
the caller's own writes; the worker wake-up is sent only once it has committed.
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from tenants.models import Tenant

from . import outbox, wakeup
from .conf import conf
from .exceptions import InvalidTask, PayloadTooLarge, UnknownTaskType
from .models import Status, Task
from .registry import registry

SPEC_FIELDS = {
    "type", "payload", "priority", "queue", "delay_seconds", "run_at",
    "max_retries", "timeout_seconds", "idempotency_key",
}


class InvalidBatch(InvalidTask):
    """Some items of a bulk enqueue are invalid; nothing was written."""

    def __init__(self, errors: list[tuple[int, str, str]]) -> None:
        self.errors = errors
        index, field, message = errors[0]
        super().__init__(f"tasks[{index}].{field}", message)


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


#: MySQL/MariaDB refuse JSON documents nested deeper than 32 levels (JSON_VALID fails).
MAX_PAYLOAD_DEPTH = 30


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value (iterative: a hostile payload cannot exhaust the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in node.values())
        elif isinstance(node, list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in node)
        if deepest > MAX_PAYLOAD_DEPTH:
            break
    return deepest


def _encodable(text: str) -> bool:
    """False for strings a database cannot store (lone UTF-16 surrogates)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _int_in(field: str, value: Any, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise InvalidTask(field, f"must be an integer (got {value!r})")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise InvalidTask(field, f"must be {bound} (got {value})")
    return value


def build_task(tenant: Tenant, spec: Mapping[str, Any], *, now: datetime | None = None,
               public: bool = False) -> Task:
    """Validate one enqueue request and return the unsaved task it describes."""
    c = conf()
    now = now or timezone.now()
    unknown = set(spec) - SPEC_FIELDS
    if unknown:
        raise InvalidTask(sorted(unknown)[0], "unknown field")
    type_name = spec.get("type")
    if not isinstance(type_name, str) or not type_name:
        raise InvalidTask("type", "required: the name of a registered task type")
    task_type = registry.get(type_name)
    if public and task_type.internal:
        known = ", ".join(registry.names(public_only=True))
        raise UnknownTaskType("type", f"unknown task type {type_name!r}; known types: {known}")

    payload = spec.get("payload")
    if payload is None:
        payload = {}
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError as exc:
            raise InvalidTask("payload", f"not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise InvalidTask("payload", "must be a JSON object")
    if _depth(payload) > MAX_PAYLOAD_DEPTH:
        raise InvalidTask("payload", f"nested deeper than {MAX_PAYLOAD_DEPTH} levels")
    try:
        size = len(json.dumps(payload, allow_nan=False, ensure_ascii=False).encode())
    except UnicodeEncodeError:
        raise InvalidTask("payload", "contains text that is not valid Unicode (a lone surrogate)") from None
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidTask("payload", f"not JSON-serialisable: {exc}") from None
    if size > c.MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge("payload", f"{size} bytes is over the limit of {c.MAX_PAYLOAD_BYTES}")

    priority = spec.get("priority")
    priority = _int_in("priority", priority, 1, 5) if priority is not None else (
        task_type.priority or c.DEFAULT_PRIORITY
    )
    max_retries = spec.get("max_retries")
    if max_retries is not None:
        max_retries = _int_in("max_retries", max_retries, 0, 100)
    elif task_type.max_retries is not None:
        max_retries = task_type.max_retries
    else:
        max_retries = c.DEFAULT_MAX_RETRIES
    timeout = spec.get("timeout_seconds")
    if timeout is not None:
        timeout = _int_in("timeout_seconds", timeout, 1, 7 * 24 * 3600)
    else:
        timeout = task_type.timeout or c.DEFAULT_TIMEOUT

    queue = spec.get("queue") or task_type.queue or c.DEFAULT_QUEUE
    if not isinstance(queue, str) or len(queue) > 64 or not _encodable(queue):
        raise InvalidTask("queue", "must be a string of at most 64 characters")

    delay, run_at = spec.get("delay_seconds"), spec.get("run_at")
    if delay is not None and run_at is not None:
        raise InvalidTask("run_at", "give delay_seconds or run_at, not both")
    if delay is not None:
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay <= 366 * 86400:
            raise InvalidTask("delay_seconds", "must be a number of seconds between 0 and one year")
        run_at = now + timedelta(seconds=delay)
    elif run_at is not None:
        if isinstance(run_at, str):
            try:
                run_at = datetime.fromisoformat(run_at)
            except ValueError:
                raise InvalidTask("run_at", "must be an ISO 8601 date-time") from None
        if not isinstance(run_at, datetime):
            raise InvalidTask("run_at", "must be a date-time")
        if timezone.is_naive(run_at):
            raise InvalidTask("run_at", "must carry a time zone offset")
        try:
            run_at = run_at.astimezone(UTC)
        except OverflowError:
            raise InvalidTask("run_at", "is out of range") from None
    else:
        run_at = now

    key = spec.get("idempotency_key")
    if key is not None and (not isinstance(key, str) or not 1 <= len(key) <= 255 or not _encodable(key)):
        raise InvalidTask("idempotency_key", "must be a string of 1 to 255 characters")

    return Task(
        tenant=tenant,
        type=type_name,
        queue=queue,
        priority=priority,
        payload=payload,
        status=Status.SCHEDULED if run_at > now else Status.PENDING,
        max_retries=max_retries,
        timeout=timeout,
        run_at=run_at,
        idempotency_key=key,
        created_at=now,
    )


def _announce_on_commit() -> None:
    transaction.on_commit(wakeup.announce)


def enqueue_or_get(tenant: Tenant | str | int, spec: Mapping[str, Any]) -> Enqueued:
    """Enqueue one task; with an idempotency key already used, return the original."""
    return save_task(build_task(resolve_tenant(tenant), spec))


def _insert(task: Task) -> None:
    task.save(force_insert=True)
    outbox.record([outbox.change(task, "task.created", task.status)])


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
                _insert(task)
        except IntegrityError:
            # A concurrent request with the same key won the race: answer with its task.
            return Enqueued(Task.objects.get(tenant=tenant, idempotency_key=task.idempotency_key), False)
    else:
        with transaction.atomic():
            _insert(task)
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


def build_many(specs: Sequence[Any], *, tenant: Tenant, public: bool = False) -> list[Task]:
    """Validate every spec (all or nothing) and return the unsaved tasks."""
    c = conf()
    if len(specs) > c.MAX_BATCH:
        raise InvalidTask("tasks", f"at most {c.MAX_BATCH} tasks per batch (got {len(specs)})")
    now = timezone.now()
    tasks: list[Task] = []
    errors: list[tuple[int, str, str]] = []
    seen_keys: set[str] = set()
    for index, spec in enumerate(specs):
        if not isinstance(spec, Mapping):
            errors.append((index, "task", "must be an object"))
            continue
        try:
            task = build_task(tenant, spec, now=now, public=public)
        except InvalidTask as exc:
            errors.append((index, exc.field, exc.message))
            continue
        if task.idempotency_key:
            if task.idempotency_key in seen_keys:
                errors.append((index, "idempotency_key", "repeated within the batch"))
            seen_keys.add(task.idempotency_key)
        tasks.append(task)
    if errors:
        raise InvalidBatch(errors)
    return tasks


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
                Task.objects.bulk_create(fresh)
                outbox.record(outbox.change(t, "task.created", t.status) for t in fresh)
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
