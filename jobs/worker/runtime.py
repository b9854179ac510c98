"""One worker process: its services, its registry row, and its graceful shutdown."""

import logging
import os
import signal
import socket
import threading
import time
import uuid
from types import FrameType

from django.conf import settings
from django.db import connection

from .. import clock
from ..conf import conf
from ..fairness import CostTable, TenantCache
from ..models import Task, WorkerProcess
from ..notify import wakeup
from ..store import finish as outcomes
from ..store import pauses, transitions
from .completer import Completer
from .dispatcher import Dispatcher
from .heartbeat import Heartbeat
from .options import EXIT_RECYCLE, WorkerOptions
from .pool import ExecutorPool
from .promoter import Promoter
from .pruner import Pruner
from .rescuer import Rescuer
from .scheduler import Scheduler
from .service import Service
from .startup import StartTimes
from .wakeups import WakeupListener
from .watchdog import Watchdog

logger = logging.getLogger(__name__)

#: The longest the maintenance services wait for the dispatcher's first claim round, seconds.
MAINTENANCE_WAIT_SECONDS = 1.0


def new_worker_id() -> str:
    return f"{settings.INSTANCE_NAME}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class WorkerRuntime:
    """Run one worker process until stopped (or, in burst mode, until nothing is due)."""

    def __init__(self, *, options: WorkerOptions, worker_id: str | None = None, times: StartTimes | None = None,
                 forked: float | None = None) -> None:
        self.options = options
        self.worker_id = worker_id or new_worker_id()
        #: The supervisor's start times (this process's own when run without one) and this process's.
        self.times = times or StartTimes.now()
        self.forked = forked or self.times.ready
        #: The dispatcher's first claim round is over: maintenance may start.
        self.first_round = threading.Event()
        self.drain_seconds = conf().DRAIN_SECONDS if options.drain_seconds is None else options.drain_seconds
        #: The one stop request: a signal, a recycle, or a finished burst.
        self.stopping = threading.Event()
        self.exit_code = 0
        tenants = TenantCache()
        #: Run times per task type, for time-fair shares (None: one unit per task).
        self.costs = CostTable() if conf().DRR_BY_TIME else None
        self.completer = Completer(worker_id=self.worker_id)
        self.pool = ExecutorPool(threads=options.threads, worker_id=self.worker_id, report=self._report,
                                 record_start=self.completer.started,
                                 on_free=self._slot_freed, tenants=tenants, hold_back=self._paused_since_claim)
        self.dispatcher = Dispatcher(worker_id=self.worker_id, pool=self.pool, completer=self.completer,
                                     tenants=tenants, queues=list(options.queues) or None, burst=options.burst,
                                     on_drained=self.stop, costs=self.costs, on_first_round=self._first_round)
        self.heartbeat = Heartbeat(worker_id=self.worker_id, pool=self.pool, completer=self.completer,
                                   register=self.register)
        self.listener = WakeupListener(self.worker_id, self._on_announcement)
        #: Started after the dispatcher's first claim round (or a second, if it takes longer): none
        #: is needed for it (``runworkers`` rescued the host's dead workers' tasks before forking),
        #: and at start they would all hit the database at once, on the cores the first claim needs.
        self.maintenance: list[Service] = [
            Rescuer(), Promoter(on_promoted=self.dispatcher.notify_work), Pruner(),
            Scheduler(on_fired=self.dispatcher.notify_work),
        ] if options.maintenance else []
        #: Started in this order, then the maintenance; all stopped after the drain but the
        #: dispatcher, which stops first: that ends the claiming. The listener does not hold the
        #: dispatcher up: once subscribed it has it look once more (what it may have missed).
        self.services: list[Service] = [
            self.completer,
            self.heartbeat,
            Watchdog(pool=self.pool, on_exhausted=self._recycle),
            self.listener,
            self.dispatcher,
            *self.maintenance,
        ]

    def _report(self, outcome: outcomes.Outcome) -> None:
        """A run ended (on its executor, or the watchdog's timeout): its time feeds the cost table.

        Its handler's start to now, on the one clock: a timed-out run held its slot until its
        deadline and is charged that. A dict update, no statement: this is every task's path.
        """
        task = outcome.task
        if self.costs is not None and task is not None and task.started_at is not None:
            seconds = (clock.now() - task.started_at).total_seconds()
            self.costs.observe(task.type, seconds, run=(task.pk, outcome.run or task.run))
        self.completer.add(outcome)

    def _paused_since_claim(self, task: Task) -> bool:
        """A prefetched run whose queue, type or tenant was paused after its claim: hand it back, uncharged.

        "Nothing new of the paused set starts" holds for what this process already claimed, too
        (a prefetch of fast tasks can hold a few seconds' worth); the next claim parks it.
        """
        # On an executor thread: nothing here may raise, or the thread dies with the run still
        # held (its lease renewed by the heartbeat, never run). The database may be restarting.
        try:
            paused = pauses.current()
        except Exception:  # noqa: BLE001 — any database error (InterfaceError is not a DatabaseError)
            return False  # the claim checked the pauses a moment ago: start it
        if not paused or not (paused.blocks(task) or task.tenant_id in paused.tenant_ids):
            return False
        try:
            transitions.release(worker=self.worker_id, runs=[(task.pk, task.run)])
        except Exception:
            logger.warning("could not hand back paused task %s: its lease will lapse and the rescue returns it",
                           task.pk, exc_info=True)
        return True

    def _first_round(self, claimed: int) -> None:
        """The dispatcher's first claim round is over (``claimed`` tasks): log the start-up, let maintenance start."""
        logger.info("worker %s: %s", self.worker_id,
                    self.times.line(forked=self.forked, first_claim=time.time(), tasks=claimed))
        self.first_round.set()

    def _slot_freed(self) -> None:
        self.dispatcher.notify()

    def _on_announcement(self, kind: bytes) -> None:
        if kind == wakeup.CANCEL:
            self.heartbeat.notify()
        else:
            self.dispatcher.notify_work()

    def _recycle(self) -> None:
        self.exit_code = EXIT_RECYCLE
        self.stop()

    def stop(self, *_: object) -> None:
        """Ask for the graceful drain (safe from a signal handler and from any thread)."""
        self.stopping.set()

    def install_signal_handlers(self) -> None:
        def handle(signum: int, frame: FrameType | None) -> None:
            logger.info("worker %s: signal %s, draining", self.worker_id, signal.Signals(signum).name)
            self.stop()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)

    def register(self) -> None:
        now = clock.now()
        fields = {
            "instance": settings.INSTANCE_NAME,
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "queues": ",".join(self.options.queues),
            "threads": self.options.threads,
            "state": "running",
            "slots": self.pool.snapshot(),
            "last_heartbeat": now,
            "clock_skew": clock.skew(),
        }
        WorkerProcess.objects.update_or_create(pk=self.worker_id, defaults=fields,
                                               create_defaults={**fields, "started_at": now})

    def run(self) -> int:
        self.heartbeat.sync_clock()  # before the first time this process writes
        self.register()
        self.heartbeat.registered()  # the registration was this process's first beat
        self.pool.start()
        for service in self.services:
            if service not in self.maintenance:
                service.start()
        self.first_round.wait(MAINTENANCE_WAIT_SECONDS)
        for service in self.maintenance:
            if not self.stopping.is_set():  # a burst with nothing to do, or a signal: no round to run
                service.start()
        logger.info("worker %s: %d threads, queues=%s%s", self.worker_id, self.options.threads,
                    ",".join(self.options.queues) or "*", " (burst)" if self.options.burst else "")
        self.stopping.wait()  # a signal handler interrupts the wait, runs, and sets it
        self.shutdown()
        return self.exit_code

    def shutdown(self) -> None:
        """Stop claiming, hand back unstarted tasks, let running ones finish within the drain, release the rest."""
        self.stopping.set()
        self.dispatcher.stop()
        self.dispatcher.join(timeout=10)
        WorkerProcess.objects.filter(pk=self.worker_id).update(state="stopping")
        unstarted = self.pool.stop_accepting()
        released = transitions.release(worker=self.worker_id, runs=[e.key for e in unstarted])
        left = [] if self.pool.wait_idle(self.drain_seconds) else self.pool.abandon_all()
        if left:
            logger.warning("worker %s: %d task(s) still running after the %ss drain; releasing them",
                           self.worker_id, len(left), self.drain_seconds)
        for service in self.services:
            service.stop()
        self.completer.join(timeout=5)
        self.completer.drain(timeout=10)
        released += transitions.release(worker=self.worker_id, runs=[], started=tuple(e.task for e in left))
        self.pool.shutdown()
        WorkerProcess.objects.filter(pk=self.worker_id).delete()
        if released:
            wakeup.announce()
        logger.info("worker %s: stopped (%d claimed, %d written, %d released)", self.worker_id,
                    self.dispatcher.claimed, self.completer.written, released)
        connection.close()
