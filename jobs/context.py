"""What a handler knows about the run it is part of."""

import threading
from dataclasses import dataclass, field
from typing import NoReturn

from .exceptions import Snoozed, TaskCancelled


@dataclass(slots=True)
class TaskContext:
    task_id: int
    attempt: int
    tenant_id: int
    tenant_slug: str
    type: str
    queue: str
    worker: str
    _cancel: threading.Event = field(default_factory=threading.Event, init=False, repr=False)

    @property
    def cancelled(self) -> bool:
        """True once an operator cancelled the task or its run timed out."""
        return self._cancel.is_set()

    def cancel(self) -> None:
        """Tell the handler to stop: an operator cancelled the task, or its run timed out."""
        self._cancel.set()

    def raise_if_cancelled(self) -> None:
        if self._cancel.is_set():
            raise TaskCancelled(f"task {self.task_id} was cancelled")

    def snooze(self, seconds: float) -> NoReturn:
        """End this run now and run the task again ``seconds`` from now (0 < seconds ≤ a day),
        without charging the attempt: for back-pressure (an upstream 429, a busy partner).

        Raises ``Snoozed`` (let it propagate; a ``BaseException``, so ``except Exception`` does
        not catch it). A cancellation requested during the run still wins: the task ends
        cancelled. A bad ``seconds`` raises ``ValueError`` (a failed attempt).
        """
        raise Snoozed(seconds)

    def sleep(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking early on cancellation; True if cancelled."""
        return self._cancel.wait(max(0.0, seconds))
