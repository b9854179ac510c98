"""One worker process: its threads, its registry row, and its graceful shutdown."""

import logging
import os
import signal
import socket
import threading
import uuid
from types import FrameType

from django.conf import settings
from django.db import connection

from ..conf import conf
from ..models import WorkerProcess
from ..notify import wakeup
from ..store import transitions
from .completer import Completer
from .dispatcher import Dispatcher, TenantCache
from .heartbeat import Heartbeat
from .options import EXIT_RECYCLE, WorkerOptions
from .pool import ExecutorPool
from .promoter import Promoter
from .pruner import Pruner
from .rescuer import Rescuer
from .wakeups import WakeupListener
from .watchdog import Watchdog

logger = logging.getLogger(__name__)

def instance_name() -> str:
    return settings.INSTANCE_ID or socket.gethostname()


def new_worker_id() -> str:
    return f"{instance_name()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class WorkerRuntime:
    """Run one worker process until stopped (or, in burst mode, until nothing is due)."""

    def __init__(self, *, options: WorkerOptions, worker_id: str | None = None) -> None:
        c = conf()
        self.options = options
        self.worker_id = worker_id or new_worker_id()
        self.drain_seconds = c.DRAIN_SECONDS if options.drain_seconds is None else options.drain_seconds
        self.stop_event = threading.Event()      # stop claiming, begin the drain
        self.threads_stop = threading.Event()    # stop the service threads
        self.exit_code = 0
        self.tenants = TenantCache()
        self.completer = Completer(
            worker_id=self.worker_id, batch=c.COMPLETE_BATCH, flush_seconds=c.COMPLETE_FLUSH_SECONDS,
            stop=self.threads_stop,
        )
        self.pool = ExecutorPool(
            threads=options.threads, worker_id=self.worker_id, report=self.completer.add,
            on_free=self._wake_dispatcher, tenant_slug=self.tenants.slug,
            prefetch=options.threads * c.PREFETCH_PER_THREAD, fast_seconds=c.FAST_TASK_SECONDS,
        )
        self.dispatcher = Dispatcher(
            worker_id=self.worker_id, pool=self.pool, queues=list(options.queues) or None,
            quantum=c.DRR_QUANTUM, lease_seconds=c.LEASE_SECONDS, poll_seconds=c.POLL_SECONDS,
            burst=options.burst, tenants=self.tenants, unwritten=self.completer.pending_ids,
            stop=self.stop_event,
        )
        self.heartbeat = Heartbeat(
            worker_id=self.worker_id, pool=self.pool, completer=self.completer,
            interval=c.HEARTBEAT_SECONDS, lease_seconds=c.LEASE_SECONDS, stop=self.threads_stop,
            register=self.register,
        )
        self.watchdog = Watchdog(
            pool=self.pool, completer=self.completer, worker_id=self.worker_id,
            max_abandoned=c.MAX_ABANDONED_THREADS, on_exhausted=self._recycle,
            on_free=self._wake_dispatcher, stop=self.threads_stop,
        )
        self.listener = WakeupListener(self.worker_id, self._on_announcement, self.threads_stop)
        self.maintenance: list[threading.Thread] = []
        if options.maintenance:
            self.maintenance = [
                Rescuer(interval=c.RESCUE_SECONDS, stop=self.threads_stop),
                Promoter(interval=c.PROMOTE_SECONDS, on_promoted=self._new_work, stop=self.threads_stop),
                Pruner(interval=c.PRUNE_SECONDS, stop=self.threads_stop),
            ]

    def _wake_dispatcher(self) -> None:
        self.dispatcher.notify()

    def _new_work(self) -> None:
        self.dispatcher.notify_work()

    def _on_announcement(self, kind: bytes) -> None:
        if kind == wakeup.CANCEL:
            self.heartbeat.check_cancels.set()
        else:
            self.dispatcher.notify_work()

    def _recycle(self) -> None:
        self.exit_code = EXIT_RECYCLE
        self.stop()

    def stop(self, *_: object) -> None:
        """Stop claiming and begin the graceful drain (safe from a signal handler)."""
        self.stop_event.set()
        self.dispatcher.notify()

    def install_signal_handlers(self) -> None:
        def handle(signum: int, frame: FrameType | None) -> None:
            logger.info("worker %s: signal %s, draining", self.worker_id, signal.Signals(signum).name)
            self.stop()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)

    def register(self) -> None:
        WorkerProcess.objects.update_or_create(
            pk=self.worker_id,
            defaults={
                "instance": instance_name(),
                "hostname": socket.gethostname(),
                "pid": os.getpid(),
                "queues": ",".join(self.options.queues),
                "threads": self.options.threads,
                "state": "running",
                "slots": self.pool.snapshot(),
            },
        )

    def run(self) -> int:
        self.register()
        self.completer.start()
        self.pool.start()
        self.heartbeat.start()
        self.watchdog.start()
        self.listener.start()
        self.listener.ready.wait(5)
        for thread in self.maintenance:
            thread.start()
        self.dispatcher.start()
        logger.info("worker %s: %d threads, queues=%s%s", self.worker_id, self.options.threads,
                    ",".join(self.options.queues) or "*", " (burst)" if self.options.burst else "")
        while not self.stop_event.is_set():
            if self.dispatcher.done.wait(0.2):
                break
        self.shutdown()
        return self.exit_code

    def shutdown(self) -> None:
        """Stop claiming, let running tasks finish within the drain, release the rest."""
        self.stop_event.set()
        self.dispatcher.join(timeout=10)
        WorkerProcess.objects.filter(pk=self.worker_id).update(state="stopping")
        unstarted = self.pool.stop_accepting()
        released = transitions.release(worker=self.worker_id, ids=[e.task.pk for e in unstarted])
        if not self.pool.wait_idle(self.drain_seconds):
            left = self.pool.abandon_all()
            logger.warning("worker %s: %d task(s) still running after the %ss drain; releasing them",
                           self.worker_id, len(left), self.drain_seconds)
            self.threads_stop.set()
            self.completer.join(timeout=5)
            self.completer.drain(timeout=10)
            released += transitions.release(worker=self.worker_id, ids=[e.task.pk for e in left])
        else:
            self.threads_stop.set()
            self.completer.join(timeout=5)
            self.completer.drain(timeout=10)
        self.pool.shutdown()
        WorkerProcess.objects.filter(pk=self.worker_id).delete()
        if released:
            wakeup.announce()
        logger.info("worker %s: stopped (%d claimed, %d written, %d released)", self.worker_id,
                    self.dispatcher.claimed, self.completer.written, released)
        connection.close()
