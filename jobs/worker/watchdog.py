"""Enforce per-task timeouts: fail the attempt, free the slot, recycle a leaky process."""

import logging
import threading
import time
from collections.abc import Callable

from ..exceptions import TaskTimeout
from ..store import finish as outcomes
from .completer import Completer
from .pool import ExecutorPool

logger = logging.getLogger(__name__)


class Watchdog(threading.Thread):
    def __init__(
        self,
        *,
        pool: ExecutorPool,
        completer: Completer,
        worker_id: str,
        max_abandoned: int,
        on_exhausted: Callable[[], None],
        on_free: Callable[[], None],
        stop: threading.Event,
        interval: float = 0.2,
    ) -> None:
        super().__init__(name="watchdog", daemon=True)
        self.pool = pool
        self.completer = completer
        self.worker_id = worker_id
        self.max_abandoned = max_abandoned
        self.on_exhausted = on_exhausted
        self.on_free = on_free
        self.stop_event = stop
        self.interval = interval

    def run(self) -> None:
        while not self.stop_event.wait(self.interval):
            self.check(time.monotonic())

    def check(self, now: float) -> None:
        for execution in self.pool.executions():
            if execution.slot < 0 or now < execution.deadline:
                continue
            if not self.pool.abandon(execution):
                continue
            task = execution.task
            logger.warning("task %s (%s) exceeded its %ss timeout", task.pk, task.type, task.timeout)
            # Python cannot kill a thread: the attempt fails now, its thread is abandoned.
            self.completer.add(outcomes.failed(
                task, TaskTimeout(f"exceeded its timeout of {task.timeout}s"), worker=self.worker_id,
                with_traceback=False,
            ))
            self.on_free()
            if self.pool.abandoned_threads >= self.max_abandoned:
                logger.warning("%d threads abandoned to timeouts: recycling this process",
                               self.pool.abandoned_threads)
                self.on_exhausted()
