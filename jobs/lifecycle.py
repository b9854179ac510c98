"""What may happen to a task: its statuses, the transitions between them, the operator
actions allowed in each status, and the event every transition records.

This module says *what*; ``jobs.store`` says *how* (the only code that writes
``Task.status``). The console's buttons, the admin actions and the API's 409s all ask
``can()``; ``docs/ARCHITECTURE.md`` embeds ``diagram()`` and a test keeps the two equal.
"""

from dataclasses import dataclass
from enum import StrEnum

from django.db import models


class Status(models.TextChoices):
    PENDING = "pending"
    SCHEDULED = "scheduled"
    #: Due, but held back by a closed gate (its concurrency key is full, its queue or type is
    #: paused): out of the claim's index range until the gate opens (``Task.blocked_on`` says which).
    BLOCKED = "blocked"
    RUNNING = "running"
    COMPLETED = "completed"
    #: Dead-lettered: retries exhausted or not retryable. Terminal until requeued.
    FAILED = "failed"
    CANCELLED = "cancelled"


#: Waiting to run: due (``pending``), not yet (``scheduled``: delayed, backing off, snoozed or
#: waiting for a resource's token) or held back by a gate (``blocked``).
WAITING = (Status.PENDING, Status.SCHEDULED, Status.BLOCKED)
#: Not finished: waiting or held by a worker.
LIVE = (*WAITING, Status.RUNNING)
#: Terminal until an operator requeues.
FINISHED = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)


class Event(StrEnum):
    """The outbox event each transition records (the SSE event name)."""

    CREATED = "task.created"
    PROMOTED = "task.promoted"
    STARTED = "task.started"
    COMPLETED = "task.completed"
    RETRYING = "task.retrying"
    FAILED = "task.failed"
    CANCELLED = "task.cancelled"
    CANCEL_REQUESTED = "task.cancel_requested"
    RESCUED = "task.rescued"
    RELEASED = "task.released"
    REQUEUED = "task.requeued"
    BLOCKED = "task.blocked"
    UNBLOCKED = "task.unblocked"
    THROTTLED = "task.throttled"
    SNOOZED = "task.snoozed"

    @property
    def short(self) -> str:
        """The name without its ``task.`` prefix (the console's feed label)."""
        return self.value.removeprefix("task.")


@dataclass(frozen=True, slots=True)
class Transition:
    name: str
    sources: tuple[Status, ...]
    target: Status
    event: Event
    note: str = ""


#: Every way ``Task.status`` changes. The store implements each one, fenced on its sources.
TRANSITIONS: tuple[Transition, ...] = (
    Transition("enqueue", (), Status.PENDING, Event.CREATED, "due now"),
    Transition("enqueue", (), Status.SCHEDULED, Event.CREATED, "run_at in the future"),
    Transition("promote", (Status.SCHEDULED,), Status.PENDING, Event.PROMOTED, "due"),
    Transition("claim", (Status.PENDING,), Status.RUNNING, Event.STARTED, "SKIP LOCKED, lease taken"),
    Transition("block", (Status.PENDING,), Status.BLOCKED, Event.BLOCKED,
               "at claim: its concurrency key is full, or its queue or type is paused"),
    Transition("unblock", (Status.BLOCKED,), Status.PENDING, Event.UNBLOCKED,
               "a slot of its key came free (the run's fenced end), or the pause was lifted"),
    Transition("throttle", (Status.PENDING,), Status.SCHEDULED, Event.THROTTLED,
               "at claim: its resource has no token; run_at = when the next one is due"),
    Transition("snooze", (Status.RUNNING,), Status.SCHEDULED, Event.SNOOZED, "ctx.snooze(): no attempt charged"),
    Transition("complete", (Status.RUNNING,), Status.COMPLETED, Event.COMPLETED, "the handler returned"),
    Transition("retry", (Status.RUNNING,), Status.SCHEDULED, Event.RETRYING, "error, retries left: backoff"),
    Transition("fail", (Status.RUNNING,), Status.FAILED, Event.FAILED, "retries exhausted: dead letter"),
    Transition("cancel", (Status.RUNNING,), Status.CANCELLED, Event.CANCELLED, "cancel requested mid-run"),
    Transition("cancel", WAITING, Status.CANCELLED, Event.CANCELLED, "at once"),
    Transition("request cancel", (Status.RUNNING,), Status.RUNNING, Event.CANCEL_REQUESTED,
               "a flag: the run's fenced end records cancelled"),
    Transition("rescue", (Status.RUNNING,), Status.PENDING, Event.RESCUED, "worker lost (no retry used)"),
    Transition("rescue", (Status.RUNNING,), Status.SCHEDULED, Event.RESCUED, "worker lost again: back-off"),
    Transition("rescue", (Status.RUNNING,), Status.FAILED, Event.FAILED, "more than max_lost runs lost"),
    Transition("release", (Status.RUNNING,), Status.PENDING, Event.RELEASED,
               "shutdown drain: attempt not counted (past MAX_INTERRUPTED cut-offs: charged)"),
    Transition("requeue", (Status.FAILED, Status.CANCELLED), Status.PENDING, Event.REQUEUED, "operator"),
)


class Action(StrEnum):
    """What an operator can ask of a task (API, console, admin, CLI)."""

    CANCEL = "cancel"
    REQUEUE = "requeue"


#: The statuses in which each operator action applies. Cancelling a running task only
#: requests it (the worker's fenced finish records ``cancelled``).
ACTIONS: dict[Action, tuple[Status, ...]] = {
    Action.CANCEL: (*WAITING, Status.RUNNING),
    Action.REQUEUE: (Status.FAILED, Status.CANCELLED),
}


def can(action: Action | str, status: str) -> bool:
    """Whether ``action`` applies to a task in ``status``."""
    return status in ACTIONS[Action(action)]


def actions_for(status: str) -> dict[str, bool]:
    """Every operator action and whether it applies in ``status`` (for buttons)."""
    return {action.value: status in sources for action, sources in ACTIONS.items()}


def diagram() -> str:
    """The transitions and the operator actions as Markdown tables (embedded in docs/ARCHITECTURE.md)."""
    lines = ["| from | transition | to | event | when |", "| --- | --- | --- | --- | --- |"]
    for t in TRANSITIONS:
        source = ", ".join(f"`{s.value}`" for s in t.sources) or "(new)"
        lines.append(f"| {source} | **{t.name}** | `{t.target.value}` | `{t.event.value}` | {t.note} |")
    lines += ["", "| operator action | applies to |", "| --- | --- |"]
    for action, sources in ACTIONS.items():
        lines.append(f"| {action.value} | {', '.join(f'`{s.value}`' for s in sources)} |")
    return "\n".join(lines)
