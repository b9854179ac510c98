"""Start worker processes, restart the ones that die, and stop them all gracefully."""

import logging
import multiprocessing
import os
import signal
import socket
import time
from dataclasses import dataclass, field
from datetime import timedelta
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

from django.db import connection, connections
from django.db.utils import DatabaseError

from .. import clock
from ..conf import conf
from ..models import WorkerProcess
from ..services import maintenance, schedule_specs
from .child import main as child_main
from .options import EXIT_RECYCLE, WorkerOptions
from .runtime import new_worker_id
from .startup import StartTimes

logger = logging.getLogger(__name__)


@dataclass
class Child:
    process: BaseProcess
    worker_id: str
    started: float = field(default_factory=time.monotonic)


class Supervisor:
    def __init__(self, *, processes: int, options: WorkerOptions, times: StartTimes | None = None) -> None:
        self.processes = processes
        self.options = options
        #: When this process started and had Django ready: each child's ``startup:`` line counts from there.
        self.times = times or StartTimes.now()
        self.children: list[Child] = []
        self.stopping = False
        # fork: a child starts in milliseconds with Django already set up. Safe here because
        # the supervisor runs no threads and closes its database connections before forking.
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        self.context: Any = multiprocessing.get_context(method)
        self.restarts = 0
        self.stop_deadline: float | None = None

    def _drain_seconds(self) -> float:
        return conf().DRAIN_SECONDS if self.options.drain_seconds is None else self.options.drain_seconds

    def _spawn(self) -> Child:
        worker_id = new_worker_id()
        connections.close_all()
        process = self.context.Process(target=child_main, args=(self.options, worker_id, self.times), daemon=False)
        process.start()
        logger.info("supervisor: started worker process %s (pid %s)", worker_id, process.pid)
        return Child(process=process, worker_id=worker_id)

    def _handle_signal(self, signum: int, frame: FrameType | None) -> None:
        if not self.stopping:
            logger.info("supervisor: %s, stopping worker processes", signal.Signals(signum).name)
        if self.stop_deadline is None:
            self.stop_deadline = time.monotonic() + self._drain_seconds() + 15
        self.stopping = True
        for child in self.children:
            if child.process.is_alive() and child.process.pid:
                os.kill(child.process.pid, signal.SIGTERM)

    def recover_host(self) -> None:
        """Startup recovery: rescue tasks of this host's worker processes that are gone.

        A process counts as gone only when its pid is not alive here *and* its heartbeat is
        stale: containers that share a hostname but not a pid namespace see each other's
        rows, and must never take a live neighbour's tasks.
        """
        hostname = socket.gethostname()
        clock.sync()
        stale = clock.now() - timedelta(seconds=2 * conf().HEARTBEAT_SECONDS)
        for worker in WorkerProcess.objects.filter(hostname=hostname, last_heartbeat__lt=stale):
            if not _pid_alive(worker.pid):
                n = maintenance.rescue_worker(worker.pk)
                logger.warning("supervisor: recovered %d task(s) of dead worker %s", n, worker.pk)
        maintenance.rescue_expired()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._handle_signal)
        signal.signal(signal.SIGINT, self._handle_signal)
        try:
            self.recover_host()
        except DatabaseError as exc:
            logger.warning("supervisor: startup recovery skipped: %s", exc)
        if self.options.maintenance:
            try:
                # JOBS["SCHEDULES"] into the table: each host's start makes the rows match its settings.
                counts = schedule_specs.sync_settings()
                logger.info("supervisor: schedules from settings: %s", counts)
            except DatabaseError as exc:
                logger.warning("supervisor: schedules not synced from settings: %s", exc)
        connection.close()
        self.children = [self._spawn() for _ in range(self.processes)]
        crash_times: list[float] = []
        while self.children:
            time.sleep(0.2)
            if self.stop_deadline is not None and time.monotonic() > self.stop_deadline:
                self._kill_stragglers()
            for child in list(self.children):
                if child.process.is_alive():
                    continue
                child.process.join()
                code = child.process.exitcode
                self.children.remove(child)
                if code != 0 and code != EXIT_RECYCLE:
                    logger.error("supervisor: worker %s exited with %s; rescuing its tasks", child.worker_id, code)
                    self._rescue(child.worker_id)
                if self.stopping or (self.options.burst and code == 0):
                    continue
                # A crash loop, or a recycle loop (tasks that time out and never stop), backs off.
                now = time.monotonic()
                crash_times = [t for t in crash_times if now - t < 60] + [now]
                time.sleep(restart_delay(len(crash_times)))
                self.restarts += 1
                self.children.append(self._spawn())
        return 0

    def _kill_stragglers(self) -> None:
        for child in self.children:
            if child.process.is_alive() and child.process.pid:
                logger.error("supervisor: worker %s ignored the drain deadline; killing it", child.worker_id)
                os.kill(child.process.pid, signal.SIGKILL)

    def _rescue(self, worker_id: str) -> None:
        try:
            maintenance.rescue_worker(worker_id)
        except DatabaseError as exc:
            # The rescuer of any live process picks them up once their leases lapse.
            logger.warning("supervisor: could not rescue %s now: %s", worker_id, exc)
        finally:
            connection.close()


def restart_delay(restarts_last_minute: int) -> float:
    """Seconds to wait before replacing a worker process: none for the first five restarts in a
    minute, then doubling up to 30 s (whether it crashed or asked to be recycled)."""
    return 0.0 if restarts_last_minute <= 5 else min(30.0, 2.0 ** (restarts_last_minute - 5))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
