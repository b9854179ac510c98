"""Task types: a name bound to a callable, with its per-type defaults."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import unique
from .context import TaskContext
from .exceptions import InvalidTask, UnknownTaskType

Handler = Callable[[dict[str, Any], TaskContext], Any]

#: ``TaskType.access``: every tenant may submit the type over the API, or only the tenants granted it.
ACCESS = ("all", "listed")


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
    #: Who may submit it over the API: ``"all"`` tenants, or only those ``"listed"`` by a ``TypeGrant``.
    access: str = "all"
    #: The shortest ``timeout_seconds`` an API caller may ask for.
    min_timeout: int = 1
    #: The longest ``timeout_seconds`` an API caller may ask for; ``None``: the type's own timeout (shorten only).
    max_timeout: int | None = None
    #: The most ``max_retries`` an API caller may ask for; ``None`` takes ``JOBS['MAX_RETRIES_CAP']``.
    max_retries_cap: int | None = None
    #: Largest payload, bytes of JSON; ``None`` takes ``JOBS['MAX_PAYLOAD_BYTES']``.
    max_payload_bytes: int | None = None
    #: Largest result a run may store, bytes of JSON; ``None`` takes ``JOBS['MAX_RESULT_BYTES']``.
    max_result_bytes: int | None = None
    #: The default unique key of a task: a string, or ``f(payload)`` returning one (``None``: not unique).
    unique_key: unique.KeyDefault = None
    #: The default window of the key, seconds; ``None``: held as long as the task is in its states.
    unique_for: int | None = None
    #: The default state groups the key counts in; ``None``: waiting and running.
    unique_states: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        # A typo here would silently open a type to every tenant, or close it to all: refuse it at import.
        if self.access not in ACCESS:
            raise ValueError(f"task type {self.name!r}: access must be one of {', '.join(ACCESS)} "
                             f"(got {self.access!r})")
        for name in ("min_timeout", "max_timeout", "max_retries_cap", "max_payload_bytes", "max_result_bytes"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"task type {self.name!r}: {name} must be a non-negative integer (got {value!r})")
        if self.min_timeout < 1 or (self.max_timeout is not None and self.max_timeout < self.min_timeout):
            raise ValueError(f"task type {self.name!r}: need 1 <= min_timeout <= max_timeout")
        try:
            if self.unique_for is not None:
                unique.seconds(self.unique_for)
            if self.unique_states is not None:
                unique.states_mask(self.unique_states)
        except InvalidTask as exc:
            raise ValueError(f"task type {self.name!r}: {exc}") from None


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
        """The type named ``name``; unknown, the error lists every type (trusted callers: Python, the CLI)."""
        try:
            return self._types[name]
        except KeyError:
            known = ", ".join(sorted(self._types)) or "(none)"
            raise UnknownTaskType("type", f"unknown task type {name!r}; known types: {known}") from None

    def find(self, name: str) -> TaskType | None:
        """The type named ``name``, or ``None`` (the API answers with the caller's own types, not these)."""
        return self._types.get(name)

    def names(self, *, public_only: bool = False) -> list[str]:
        return sorted(name for name, t in self._types.items() if not (public_only and t.internal))

    def types(self) -> list[TaskType]:
        """Every registered type, by name."""
        return [self._types[name] for name in sorted(self._types)]

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
    access: str = "all",
    min_timeout: int = 1,
    max_timeout: int | None = None,
    max_retries_cap: int | None = None,
    max_payload_bytes: int | None = None,
    max_result_bytes: int | None = None,
    unique_key: unique.KeyDefault = None,
    unique_for: int | None = None,
    unique_states: tuple[str, ...] | list[str] | None = None,
) -> Callable[[Handler], Handler]:
    """Register the decorated ``func(payload, ctx)`` as a task type (docs/TASKS.md: the options)."""

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
                access=access,
                min_timeout=min_timeout,
                max_timeout=max_timeout,
                max_retries_cap=max_retries_cap,
                max_payload_bytes=max_payload_bytes,
                max_result_bytes=max_result_bytes,
                unique_key=unique_key,
                unique_for=unique_for,
                unique_states=tuple(unique_states) if unique_states is not None else None,
            )
        )
        return func

    return decorate
