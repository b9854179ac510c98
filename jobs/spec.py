"""Validate enqueue requests: what a caller may ask for, and the unsaved task it describes.

Pure apart from the registry, the conf, the database's clock (measured at most once a
minute, ``jobs.clock``) and, for API callers, one read of what their tenant was given
(``jobs.bounds``); ``jobs.services.enqueue`` persists what this returns. The API's
serializers and the CLI take their limits from here.
"""

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone

from tenants.models import Tenant

from . import bounds, clock, instances, unique
from .bounds import MAX_DELAY_SECONDS, MAX_LOST, MAX_RETRIES, MAX_TIMEOUT_SECONDS, Allowance
from .conf import conf
from .exceptions import BatchTooLarge, InvalidBatch, InvalidFields, InvalidTask, PayloadTooLarge, every_invalid_field
from .lifecycle import Status
from .models import Task
from .registry import TaskType, registry

__all__ = ["MAX_DELAY_SECONDS", "MAX_LOST", "MAX_RETRIES", "MAX_TIMEOUT_SECONDS", "SPEC_FIELDS", "build_many",
           "build_task", "int_in"]

SPEC_FIELDS = {
    "type", "payload", "priority", "queue", "delay_seconds", "run_at",
    "max_retries", "max_lost", "timeout_seconds", "idempotency_key",
    "concurrency_key", "concurrency_limit", "resource", "unique_key", "unique_for", "unique_states",
}


#: The column widths: the table is the truth.
MAX_QUEUE_CHARS: int = Task._meta.get_field("queue").max_length  # type: ignore[assignment]
MAX_KEY_CHARS: int = Task._meta.get_field("idempotency_key").max_length  # type: ignore[assignment]
MAX_CONCURRENCY_KEY_CHARS: int = Task._meta.get_field("concurrency_key").max_length  # type: ignore[assignment]
MAX_RESOURCE_CHARS: int = Task._meta.get_field("resource").max_length  # type: ignore[assignment]
MAX_UNIQUE_KEY_CHARS: int = Task._meta.get_field("unique_key").max_length  # type: ignore[assignment]
#: A concurrency limit is a number of slots (``Task.concurrency_limit`` is a small integer).
MAX_CONCURRENCY_LIMIT = 10_000

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


def int_in(field: str, value: Any, low: int, high: int | None = None) -> int:
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
               public: bool = False, allowance: Allowance | None = None) -> Task:
    """Validate one enqueue request and return the unsaved task it describes.

    ``public``: an API caller, held to its tenant's types and queues (``allowance``, read here when
    not given) and to its type's bounds; Python and the CLI are trusted and meet only the engine's.
    """
    if now is None:
        # run_at and created_at are compared by every worker: on the database's clock.
        clock.refresh()
        now = clock.now()
    return Task(tenant=tenant, **every_invalid_field(
        lambda s: _fields(tenant, s, now=now, public=public, allowance=allowance), spec))


def _fields(tenant: Tenant, spec: Mapping[str, Any], *, now: datetime, public: bool,
            allowance: Allowance | None) -> dict[str, Any]:
    """``build_task``'s checks: the task's field values (all but ``tenant``)."""
    c = conf()
    unknown = set(spec) - SPEC_FIELDS
    if unknown:
        raise InvalidTask(sorted(unknown)[0], "unknown field")
    type_name = spec.get("type")
    if not isinstance(type_name, str) or not type_name:
        raise InvalidTask("type", "required: the name of a registered task type")
    if public:
        allowance = allowance or Allowance(tenant)
        task_type = allowance.task_type(type_name)
    else:
        task_type = registry.get(type_name)

    payload = spec.get("payload")
    if payload is None:
        payload = {}
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError as exc:
            raise InvalidTask("payload", f"not valid JSON: {exc}") from None
        except RecursionError:
            # ``"[[[[…"`` nested thousands deep fits any size limit and exhausts the parser's stack.
            raise InvalidTask("payload", f"nested deeper than {MAX_PAYLOAD_DEPTH} levels") from None
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
    if size > (limit := bounds.payload_limit(task_type)):
        raise PayloadTooLarge("payload", f"{size} bytes is over the limit of {limit}")

    priority = spec.get("priority")
    priority = int_in("priority", priority, 1, 5) if priority is not None else (
        task_type.priority or c.DEFAULT_PRIORITY
    )
    max_retries = spec.get("max_retries")
    if max_retries is not None:
        max_retries = int_in("max_retries", max_retries, 0, bounds.retries_cap(task_type, public=public))
    elif task_type.max_retries is not None:
        max_retries = task_type.max_retries
    else:
        max_retries = c.DEFAULT_MAX_RETRIES
    # NULL keeps the type's (or the conf's) at run time, so changing those applies to waiting tasks.
    max_lost = spec.get("max_lost")
    if max_lost is not None:
        max_lost = int_in("max_lost", max_lost, 0, MAX_LOST)
    timeout = spec.get("timeout_seconds")
    if timeout is not None:
        timeout = int_in("timeout_seconds", timeout, *bounds.timeout_range(task_type, public=public))
    else:
        timeout = bounds.default_timeout(task_type)

    queue = spec.get("queue") or task_type.queue or c.DEFAULT_QUEUE
    if not isinstance(queue, str) or len(queue) > MAX_QUEUE_CHARS or not _encodable(queue):
        raise InvalidTask("queue", f"must be a string of at most {MAX_QUEUE_CHARS} characters")
    if allowance is not None and spec.get("queue"):
        allowance.check_queue(queue, task_type)

    delay, run_at = spec.get("delay_seconds"), spec.get("run_at")
    if delay is not None and run_at is not None:
        raise InvalidTask("run_at", "give delay_seconds or run_at, not both")
    if delay is not None:
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay <= MAX_DELAY_SECONDS:
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
        if run_at > now + timedelta(seconds=MAX_DELAY_SECONDS):
            raise InvalidTask("run_at", "must be at most one year ahead")
    else:
        run_at = now

    key = spec.get("idempotency_key")
    if key is not None and (not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_CHARS or not _encodable(key)):
        raise InvalidTask("idempotency_key", f"must be a string of 1 to {MAX_KEY_CHARS} characters")

    concurrency_key, concurrency_limit, resource = _gates(spec, payload, task_type)
    unique_key, unique_states, unique_until = unique.resolve(
        spec, payload, default_key=task_type.unique_key, default_for=task_type.unique_for,
        default_states=task_type.unique_states, now=now)
    if unique_key is not None:
        unique_key = _text("unique_key", unique_key, MAX_UNIQUE_KEY_CHARS)

    return {
        "type": type_name,
        "queue": queue,
        "priority": priority,
        "payload": payload,
        "status": Status.SCHEDULED if run_at > now else Status.PENDING,
        "max_retries": max_retries,
        "max_lost": max_lost,
        "timeout": timeout,
        "run_at": run_at,
        "idempotency_key": key,
        "concurrency_key": concurrency_key,
        "concurrency_limit": concurrency_limit,
        "resource": resource,
        "unique_key": unique_key,
        "unique_active": unique_key,  # held from the INSERT (jobs.unique)
        "unique_states": unique_states,
        "unique_until": unique_until,
        "created_at": now,
    }


def _text(field: str, value: Any, limit: int) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= limit or not _encodable(value):
        raise InvalidTask(field, f"must be a string of 1 to {limit} characters")
    return value


def _gates(spec: Mapping[str, Any], payload: dict[str, Any], task_type: TaskType) -> tuple[str | None, int, str | None]:
    """The concurrency key, its limit and the resource: the request's, else the type's defaults."""
    key = spec.get("concurrency_key")
    if key is None:
        key = unique.type_default(task_type.concurrency_key, payload, name="concurrency_key", field="payload")
    if key is not None:
        key = _text("concurrency_key", key, MAX_CONCURRENCY_KEY_CHARS)
    limit = spec.get("concurrency_limit")
    if limit is not None:
        if key is None:
            raise InvalidTask("concurrency_limit", "needs a concurrency_key")
        limit = int_in("concurrency_limit", limit, 1, MAX_CONCURRENCY_LIMIT)
    else:
        limit = task_type.concurrency_limit or 1
    resource = spec.get("resource")
    if resource is None:
        resource = task_type.resource
    if resource is not None:
        resource = _text("resource", resource, MAX_RESOURCE_CHARS)
    return key, limit, resource


def build_many(specs: Sequence[Any], *, tenant: Tenant, public: bool = False,
               allowance: Allowance | None = None) -> list[Task]:
    """Validate every spec (all or nothing) and return the unsaved tasks.

    ``allowance``: as ``build_task``'s (the API passes the one its key verification keeps).
    """
    c = conf()
    if len(specs) > c.MAX_BATCH:
        raise InvalidTask("tasks", f"at most {c.MAX_BATCH} tasks per batch (got {len(specs)})")
    clock.refresh()
    now = clock.now()
    # One read of what the tenant was given for the whole batch, not one per task.
    if public and allowance is None:
        allowance = Allowance(tenant)
    make = instances.Maker(tenant)
    shapes = instances.Shapes(lambda spec: every_invalid_field(
        lambda s: _fields(tenant, s, now=now, public=public, allowance=allowance), spec))
    tasks: list[Task] = []
    errors: list[tuple[int, str, str]] = []
    seen_keys: set[str] = set()
    too_large = 0
    for index, spec in enumerate(specs):
        if not isinstance(spec, Mapping):
            errors.append((index, "task", "must be an object"))
            continue
        try:
            task = make(shapes(spec))
        except InvalidTask as exc:
            each = exc.errors if isinstance(exc, InvalidFields) else [exc]
            errors.extend((index, e.field, e.message) for e in each)
            too_large += sum(isinstance(e, PayloadTooLarge) for e in each)
            continue
        if task.idempotency_key:
            if task.idempotency_key in seen_keys:
                errors.append((index, "idempotency_key", "repeated within the batch"))
            seen_keys.add(task.idempotency_key)
        tasks.append(task)
    if errors:
        # Only payloads over the limit: the 413 a single such task gets, not a 400 (one limit, one status).
        raise BatchTooLarge(errors) if too_large == len(errors) else InvalidBatch(errors)
    return tasks
