"""Renew leases, publish this process's slots, and pass cancellations to handlers."""

import threading
import time
from collections.abc import Callable

from django.utils import timezone

from ..models import Task, WorkerProcess
from ..store import transitions
from .completer import Completer
from .poller import Poller
from .pool import ExecutorPool

#: How often running tasks are checked for a cancellation request when no
#: wake-up arrives (a cancel announcement triggers a check at once).
CANCEL_CHECK_SECONDS = 1.0


class Heartbeat(Poller):
    def __init__(
        self,
        *,
        worker_id: str,
        pool: ExecutorPool,
        completer: Completer,
        interval: float,
        lease_seconds: float,
        stop: threading.Event,
        register: Callable[[], None] | None = None,
    ) -> None:
        super().__init__("heartbeat", stop)
        self.register = register
        self.worker_id = worker_id
        self.pool = pool
        self.completer = completer
        self.interval = interval
        self.lease_seconds = lease_seconds
        self.check_cancels = threading.Event()
        self.next_beat = 0.0

    def poll(self) -> float:
        now = time.monotonic()
        if now >= self.next_beat:
            self.beat()
            self.next_beat = now + self.interval
        self.check_cancellations()
        # Sleep until the next beat or cancel check, waking early on a cancel announcement.
        self.check_cancels.wait(min(CANCEL_CHECK_SECONDS, max(0.0, self.next_beat - time.monotonic())))
        self.check_cancels.clear()
        return 0.0

    def beat(self) -> None:
        held = self.pool.held_ids() + self.completer.pending_ids()
        transitions.renew_leases(worker=self.worker_id, ids=held, lease_seconds=self.lease_seconds)
        updated = WorkerProcess.objects.filter(pk=self.worker_id).update(
            last_heartbeat=timezone.now(), slots=self.pool.snapshot()
        )
        if not updated and self.register is not None:
            # Reaped while the database was unreachable longer than a lease: we are alive, say so.
            self.register()

    def check_cancellations(self) -> None:
        executions = {e.task.pk: e for e in self.pool.executions()}
        for task_id in Task.objects.cancel_requested_among(worker=self.worker_id, ids=list(executions)):
            executions[task_id].ctx._cancel.set()
