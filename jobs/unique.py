"""Unique tasks: at most one task per (tenant, key) in the state groups the key counts in.

A task submitted with a ``unique_key`` holds it in ``Task.unique_active`` from its INSERT;
the unique index on (tenant, unique_active) makes one holder per tenant and key exact across
every instance (a concurrent INSERT of the key fails, it cannot slip past a read). The key is
let go by the transition that moves the task out of its counted groups, in that transition's
own UPDATE (``kept``), so nothing outside a transaction ever holds a key and none can leak.
Once let go, a task never takes its key again. A window (``unique_for``) ends the hold in
time too: the next enqueue of the key clears a holder whose window has passed.

This module is the vocabulary (the groups, their bits) and the one expression every
status-changing UPDATE uses; ``jobs.spec`` validates requests with it, ``jobs.store`` writes it.
"""

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Case, CharField, F, PositiveSmallIntegerField, Value, When
from django.db.models.expressions import Combinable, CombinedExpression
from django.db.models.lookups import Exact

from .exceptions import InvalidTask
from .lifecycle import Status

#: The state groups a key may count in, and their bits in ``Task.unique_states``.
STATE_BITS: dict[str, int] = {"waiting": 1, "running": 2, "completed": 4, "failed": 8, "cancelled": 16}

#: The group of each status: pending, scheduled and blocked are all waiting.
GROUP_OF: dict[str, str] = {
    Status.PENDING: "waiting", Status.SCHEDULED: "waiting", Status.BLOCKED: "waiting",
    Status.RUNNING: "running", Status.COMPLETED: "completed", Status.FAILED: "failed",
    Status.CANCELLED: "cancelled",
}

#: While the task is waiting or running: one live task per key.
DEFAULT_STATES: tuple[str, ...] = ("waiting", "running")

#: The longest window, seconds (30 days): bounded, so that a unit mistake cannot hold a key for years.
MAX_UNIQUE_FOR = 30 * 24 * 3600


def mask(groups: Iterable[str]) -> int:
    """The bits of ``groups`` (names of ``STATE_BITS``)."""
    bits = 0
    for group in groups:
        bits |= STATE_BITS[group]
    return bits


def groups(bits: int) -> list[str]:
    """The group names of ``bits``, in lifecycle order."""
    return [name for name, bit in STATE_BITS.items() if bits & bit]


def bit(status: str) -> int:
    return STATE_BITS[GROUP_OF[status]]


def window_of(task: Any) -> int | None:
    """``unique_for`` as submitted (the window ends that long after the task's creation)."""
    if task.unique_until is None or task.created_at is None:
        return None
    return round((task.unique_until - task.created_at).total_seconds())


def held(task: Any, now: datetime) -> bool:
    """Whether ``task`` still holds its key (its window, if any, not over: one past it is let go by the
    next enqueue of the key)."""
    return task.unique_active is not None and (task.unique_until is None or task.unique_until > now)


def kept(target: str | Mapping[str, Iterable[int]]) -> Case:
    """``unique_active`` for rows moving to ``target`` (a status, or ids by status): kept while the
    new status's group is one the row's key counts in, else NULL.

    Put it in the same UPDATE as the status change, so the key is let go atomically with it.
    It reads only ``unique_states`` and ``unique_active`` (never ``status``: MySQL's SET sees the
    values assigned to its left, SQLite's the old ones). A row without a key stays NULL.
    """
    small = PositiveSmallIntegerField()
    if isinstance(target, str):
        new_bit: Value | Case = Value(bit(target), output_field=small)
    else:
        new_bit = Case(*(When(pk__in=list(ids), then=Value(bit(status), output_field=small))
                         for status, ids in target.items()), default=Value(0), output_field=small)
    common = CombinedExpression(F("unique_states"), Combinable.BITAND, new_bit, output_field=small)
    return Case(When(Exact(common, 0), then=Value(None, output_field=CharField())),
                default=F("unique_active"), output_field=CharField())


#: A type's default key: a string, or ``f(payload)`` returning one (or ``None``: not unique).
KeyDefault = str | Callable[[dict[str, Any]], Any] | None


def states_mask(value: Any, field: str = "unique_states") -> int:
    """The bits of a list of group names, refused unless a task can hold its key in them.

    A task holds its key from its INSERT and never takes it back once let go, so the groups
    must start with ``waiting``, and ``completed``/``failed`` (reached only from running) need
    ``running``: without it the claim lets the key go first.
    """
    names = ", ".join(STATE_BITS)
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
        raise InvalidTask(field, f"must be a non-empty list of state groups ({names})")
    unknown = [v for v in value if not isinstance(v, str) or v not in STATE_BITS]
    if unknown:
        raise InvalidTask(field, f"unknown state group {unknown[0]!r}; the groups are {names}")
    bits = mask(value)
    if not bits & STATE_BITS["waiting"]:
        raise InvalidTask(field, "must include 'waiting': a task holds its key from its enqueue, and a key "
                                 "let go is never taken again")
    if bits & (STATE_BITS["completed"] | STATE_BITS["failed"]) and not bits & STATE_BITS["running"]:
        raise InvalidTask(field, "'completed' and 'failed' need 'running': a task reaches them from running, "
                                 "and the claim would let the key go first")
    return bits


def seconds(value: Any, field: str = "unique_for") -> int:
    """A window in whole seconds, 1 … ``MAX_UNIQUE_FOR``."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_UNIQUE_FOR:
        raise InvalidTask(field, f"must be a whole number of seconds between 1 and {MAX_UNIQUE_FOR} (30 days)"
                                 f" (got {value!r})")
    return value


def type_default(default: Any, payload: dict[str, Any], *, name: str, field: str) -> str | None:
    """A type's default key for ``payload`` (``concurrency_key``, ``unique_key``): a value, or a
    function of the payload; ``None`` means none. A function that raises is the request's error,
    on ``field`` (it met a payload it cannot read)."""
    if default is None:
        return None
    try:
        key = default(payload) if callable(default) else default
    except Exception as exc:  # noqa: BLE001 — the type's function meets a payload it cannot read
        raise InvalidTask(field, f"the type's {name} could not be computed: {exc!r}") from None
    return None if key is None else str(key)


def resolve(spec: Mapping[str, Any], payload: dict[str, Any], *, default_key: KeyDefault, default_for: int | None,
            default_states: tuple[str, ...] | None, now: datetime) -> tuple[Any, int, datetime | None]:
    """(key, state bits, window end) of a request: its own fields, else its type's defaults.

    A type's key function returning ``None`` means "not unique"; one that raises is the
    request's error, on ``unique_key``. The key comes back as given (``jobs.spec`` checks the text).
    """
    key = spec.get("unique_key")
    if key is None:
        key = type_default(default_key, payload, name="unique_key", field="unique_key")
    given_for, given_states = spec.get("unique_for"), spec.get("unique_states")
    if key is None:
        if default_key is None and (given_for is not None or given_states is not None):
            raise InvalidTask("unique_for" if given_for is not None else "unique_states", "needs a unique_key")
        return None, 0, None
    window = seconds(given_for) if given_for is not None else default_for
    bits = states_mask(given_states) if given_states is not None else mask(default_states or DEFAULT_STATES)
    return key, bits, now + timedelta(seconds=window) if window is not None else None

