"""Errors the engine raises to its callers, and the ones handlers raise to the engine."""

import math
from collections.abc import Callable, Mapping
from typing import Any


class InvalidTask(ValueError):
    """An enqueue request the engine refuses; ``field`` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class UnknownTaskType(InvalidTask):
    """The task type is not registered; the message lists the known ones."""


class InvalidBatch(InvalidTask):
    """Some items of a bulk enqueue are invalid; nothing was written."""

    def __init__(self, errors: list[tuple[int, str, str]]) -> None:
        self.errors = errors
        index, field, message = errors[0]
        super().__init__(f"tasks[{index}].{field}", message)


class PayloadTooLarge(InvalidTask):
    """The payload is over ``JOBS['MAX_PAYLOAD_BYTES']``."""


class InvalidFields(InvalidTask):
    """Several fields of one spec are invalid: ``errors`` has each, the first being this exception's own."""

    def __init__(self, errors: list[InvalidTask]) -> None:
        super().__init__(errors[0].field, errors[0].message)
        self.errors = errors


def every_invalid_field[T](check: Callable[[Mapping[str, Any]], T], spec: Mapping[str, Any]) -> T:
    """``check(spec)``, or raise every invalid field of ``spec`` at once.

    The checks stop at the first refusal; on that (rare) path the refused field is left out, so
    its default applies, and the rest is checked again, until it passes or the refusal names no
    field of the spec (``type``, which the others depend on, ends it). One refusal is raised as
    it is (a payload over the limit stays a 413); several as ``InvalidFields`` (a 400 naming each).
    """
    try:
        return check(spec)
    except InvalidTask as first:
        errors = [first]
    rest = dict(spec)
    while errors[-1].field in rest and errors[-1].field != "type":
        del rest[errors[-1].field]
        try:
            check(rest)
        except InvalidTask as exc:
            errors.append(exc)
            continue
        break
    raise errors[0] if len(errors) == 1 else InvalidFields(errors)


class BatchTooLarge(InvalidBatch, PayloadTooLarge):
    """Every invalid item of a batch is a payload over the limit: the same 413 as one such task alone."""


class InvalidResource(ValueError):
    """A resource definition the engine refuses (``resource set``, the admin); ``field`` names the input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class InvalidTransition(Exception):
    """A state change was asked of a task that is not in a state that allows it."""

    def __init__(self, task_id: int, status: str, action: str) -> None:
        super().__init__(f"task {task_id} is {status}: cannot {action}")
        self.task_id = task_id
        self.status = status
        self.action = action


class PermanentError(Exception):
    """Raised by a handler: fail the task now, without retrying."""


class ResultTooLarge(PermanentError):
    """A run's result over its type's ``max_result_bytes`` (else ``JOBS['MAX_RESULT_BYTES']``): fails, not retried."""


class UnwritableOutcome(PermanentError):
    """Recorded for a run whose outcome the database refused to store (the attempt fails, not retried)."""


class TaskCancelled(Exception):
    """Raised inside a handler (via ``ctx.raise_if_cancelled()``) when an operator cancelled it."""


class TaskTimeout(Exception):
    """Recorded for an attempt that outlived its timeout."""


class WorkerLost(Exception):
    """Recorded for an attempt whose worker process died or stopped renewing its lease."""


class Interrupted(Exception):
    """Recorded for a run still going when its worker's drain ended, once it has been handed back
    ``JOBS['MAX_INTERRUPTED']`` times already: from then on such runs are charged like a failure."""


class InvalidPause(ValueError):
    """A pause or resume the engine refuses; ``field`` names the offending input (kind, value, reason)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotPaused(LookupError):
    """A resume of a queue, type or tenant that is not paused."""

    def __init__(self, kind: str, value: str) -> None:
        super().__init__(f"{kind} {value!r} is not paused")
        self.kind = kind
        self.value = value


#: The longest a run may snooze, seconds (a day): past that, enqueue a new task with a ``run_at``.
MAX_SNOOZE_SECONDS = 86_400.0


class Snoozed(BaseException):
    """Raised by ``ctx.snooze(seconds)``: end this run and run the task again ``seconds`` from now,
    without charging the attempt (back-pressure: a rate limit upstream, a lock someone else holds).

    A ``BaseException``, like ``SystemExit``: a handler's ``except Exception`` (log and carry on)
    must not swallow it. A bad ``seconds`` raises ``ValueError`` here instead, which fails the
    attempt like any error, with a message saying why.
    """

    def __init__(self, seconds: float) -> None:
        if (isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds)
                or not 0 < seconds <= MAX_SNOOZE_SECONDS):
            raise ValueError(f"ctx.snooze(seconds): seconds must be a number > 0 and ≤ {MAX_SNOOZE_SECONDS:g} "
                             f"(got {seconds!r})")
        super().__init__(f"snoozed for {seconds:g} s")
        self.seconds = float(seconds)
