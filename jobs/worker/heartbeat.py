"""Renew leases, publish this process's slots, and pass cancellations to handlers."""

import logging
import time
from collections.abc import Callable

from django.utils import timezone

from ..conf import conf
from ..models import Task, WorkerProcess
from ..store import transitions
from .completer import Completer
from .pool import ExecutorPool
from .service import Service

logger = logging.getLogger(__name__)


class Heartbeat(Service):
    """Beat every HEARTBEAT_SECONDS; check cancellations every CANCEL_CHECK_SECONDS or on ``notify()``."""

    def __init__(
        self, *, worker_id: str, pool: ExecutorPool, completer: Completer, register: Callable[[], None]
    ) -> None:
        super().__init__("heartbeat")
        c = conf()
        self.register = register
        self.worker_id = worker_id
        self.pool = pool
        self.completer = completer
        self.interval = c.HEARTBEAT_SECONDS
        self.lease_seconds = c.LEASE_SECONDS
        self.cancel_check_seconds = c.CANCEL_CHECK_SECONDS
        self.next_beat = 0.0

    def step(self) -> float:
        now = time.monotonic()
        if now >= self.next_beat:
            self.beat()
            self.next_beat = now + self.interval
        self.check_cancellations()
        return min(self.cancel_check_seconds, self.next_beat - time.monotonic())

    def beat(self) -> None:
        held = set(self.pool.held_runs() + self.completer.unwritten_runs())
        renewed = transitions.renew_leases(worker=self.worker_id, runs=list(held), lease_seconds=self.lease_seconds)
        if renewed < len(held):
            self.give_up(held - Task.objects.held_runs(self.worker_id, held))
        updated = WorkerProcess.objects.filter(pk=self.worker_id).update(
            last_heartbeat=timezone.now(), slots=self.pool.snapshot()
        )
        if not updated:
            # Reaped while the database was unreachable longer than a lease: we are alive, say so.
            self.register()

    def give_up(self, lost: set[tuple[int, int]]) -> None:
        """Runs whose lease was taken (rescued while this process stalled): stop them; their writes are fenced off."""
        for execution in self.pool.executions():
            if execution.key in lost:
                logger.warning("worker %s: lost the lease of task %s (run %s); cancelling that run",
                               self.worker_id, *execution.key)
                execution.ctx.cancel()

    def check_cancellations(self) -> None:
        executions = {e.key: e for e in self.pool.executions()}
        for key in Task.objects.cancel_requested_among(self.worker_id, executions):
            executions[key].ctx.cancel()
