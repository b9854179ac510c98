"""Enforce per-task timeouts (the executor slots' supervisor); recycle a leaky process."""

import logging
import time
from collections.abc import Callable

from ..conf import conf
from .pool import ExecutorPool
from .service import Service

logger = logging.getLogger(__name__)


class Watchdog(Service):
    #: How often running tasks are checked against their deadlines, seconds.
    interval = 0.2

    def __init__(self, *, pool: ExecutorPool, on_exhausted: Callable[[], None]) -> None:
        super().__init__("watchdog")
        self.pool = pool
        self.max_abandoned = conf().MAX_ABANDONED_THREADS
        self.on_exhausted = on_exhausted

    def step(self) -> float:
        self.check(time.monotonic())
        return self.interval

    def check(self, now: float) -> None:
        for execution in self.pool.executions():
            if execution.slot < 0 or now < execution.deadline or not self.pool.time_out(execution):
                continue
            task = execution.task
            logger.warning("task %s (%s) exceeded its %ss timeout", task.pk, task.type, task.timeout)
            alive = self.pool.abandoned_alive()
            if alive >= self.max_abandoned:
                logger.warning("%d threads abandoned to timeouts are still running: recycling this process", alive)
                self.on_exhausted()
