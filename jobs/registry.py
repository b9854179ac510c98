"""Task types: a name bound to a callable, with its per-type defaults."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .context import TaskContext
from .exceptions import UnknownTaskType

Handler = Callable[[dict[str, Any], TaskContext], Any]


@dataclass(frozen=True, slots=True)
class TaskType:
    name: str
    func: Handler
    #: Seconds per run; ``None`` takes ``JOBS['DEFAULT_TIMEOUT']``.
    timeout: int | None = None
    #: Retries after the first run; ``None`` takes ``JOBS['DEFAULT_MAX_RETRIES']``.
    max_retries: int | None = None
    #: Exceptions worth another attempt; anything else dead-letters at once.
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    #: First retry delay in seconds; ``None`` takes ``JOBS['RETRY_BASE_DELAY']``.
    backoff: float | None = None
    queue: str | None = None
    priority: int | None = None
    #: Internal types (e.g. ``django_task``) cannot be enqueued over the HTTP API.
    internal: bool = False
    #: Runs that may be lost with their worker before the task is dead-lettered; ``None`` takes ``JOBS['MAX_LOST']``.
    max_lost: int | None = None
    #: The default concurrency key of a task: a string, or ``f(payload)`` returning one (or ``None``: no key).
    concurrency_key: str | Callable[[dict[str, Any]], Any] | None = None
    #: Tasks of one key (within a tenant) that may run at once; ``None``: 1.
    concurrency_limit: int | None = None
    #: The default ``Resource`` (by name) whose rate limits the type's starts.
    resource: str | None = None


class Registry:
    def __init__(self) -> None:
        self._types: dict[str, TaskType] = {}

    def register(self, task_type: TaskType) -> TaskType:
        existing = self._types.get(task_type.name)
        if existing is not None and existing.func is not task_type.func:
            raise ValueError(f"task type {task_type.name!r} is already registered")
        self._types[task_type.name] = task_type
        return task_type

    def get(self, name: str) -> TaskType:
        try:
            return self._types[name]
        except KeyError:
            known = ", ".join(sorted(self._types)) or "(none)"
            raise UnknownTaskType("type", f"unknown task type {name!r}; known types: {known}") from None

    def names(self, *, public_only: bool = False) -> list[str]:
        return sorted(name for name, t in self._types.items() if not (public_only and t.internal))

    def __contains__(self, name: object) -> bool:
        return name in self._types


registry = Registry()


def task(
    name: str | None = None,
    *,
    timeout: int | None = None,
    max_retries: int | None = None,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    backoff: float | None = None,
    queue: str | None = None,
    priority: int | None = None,
    internal: bool = False,
    max_lost: int | None = None,
    concurrency_key: str | Callable[[dict[str, Any]], Any] | None = None,
    concurrency_limit: int | None = None,
    resource: str | None = None,
) -> Callable[[Handler], Handler]:
    """Register the decorated ``func(payload, ctx)`` as a task type."""

    def decorate(func: Handler) -> Handler:
        registry.register(
            TaskType(
                name=name or func.__name__,
                func=func,
                timeout=timeout,
                max_retries=max_retries,
                retry_on=retry_on,
                backoff=backoff,
                queue=queue,
                priority=priority,
                internal=internal,
                max_lost=max_lost,
                concurrency_key=concurrency_key,
                concurrency_limit=concurrency_limit,
                resource=resource,
            )
        )
        return func

    return decorate
