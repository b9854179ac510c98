"""Renew leases, publish this process's slots and clock skew, and pass cancellations to handlers."""

import logging
import socket
import time
from collections.abc import Callable

from .. import clock
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
        #: The last measured skew was over ``clock.WARN_SECONDS`` (warned once, not every beat).
        self.skewed = False

    def step(self) -> float:
        now = time.monotonic()
        if now >= self.next_beat:
            self.beat()
            self.next_beat = now + self.interval
        self.check_cancellations()
        return min(self.cancel_check_seconds, self.next_beat - time.monotonic())

    def registered(self) -> None:
        """The process just wrote its row (clock measured, ``last_heartbeat`` now): the first beat is
        one interval away, not at start, where it would compete with the first claim."""
        self.next_beat = time.monotonic() + self.interval

    def sync_clock(self) -> None:
        """Measure this host's clock against the database's (one query); warn when it goes off."""
        skew = clock.sync()
        skewed = abs(skew) > clock.WARN_SECONDS
        if skewed and not self.skewed:
            logger.warning("worker %s: the clock of host %s is %+.1f s off the database's; leases and "
                           "heartbeats use the database's clock, but fix this host's time sync (NTP)",
                           self.worker_id, socket.gethostname(), skew)
        elif self.skewed and not skewed:
            logger.info("worker %s: the clock of host %s is back within %.0f s of the database's (%+.3f s)",
                        self.worker_id, socket.gethostname(), clock.WARN_SECONDS, skew)
        self.skewed = skewed

    def beat(self) -> None:
        # Re-measured every beat, so a clock that jumps is corrected within one heartbeat.
        self.sync_clock()
        held = set(self.pool.held_runs() + self.completer.unwritten_runs())
        renewed = transitions.renew_leases(worker=self.worker_id, runs=list(held), lease_seconds=self.lease_seconds)
        if renewed < len(held):
            self.give_up(held - Task.objects.held_runs(self.worker_id, held))
        updated = WorkerProcess.objects.filter(pk=self.worker_id).update(
            last_heartbeat=clock.now(), clock_skew=clock.skew(), slots=self.pool.snapshot()
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
