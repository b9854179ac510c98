"""Write outcomes in batches: every few milliseconds or every N rows (or M bytes), one UPDATE each.

Also records runs' starts (their attempts), batched: a start still without an outcome after
``start_record_seconds`` is written with one statement for all of them. A fast task's outcome
carries its own start, so it costs no extra statement.
"""

import logging
import threading
import time
from datetime import datetime

from django.db import connection
from django.db.models import Q
from django.db.utils import DatabaseError

from ..conf import conf
from ..store import finish as outcomes
from ..store import isolate, transitions
from .pool import RunKey
from .service import Service

logger = logging.getLogger(__name__)


class Completer(Service):
    #: Seconds to back off after a failed write (the outcomes wait for the next round).
    error_delay = 0.5
    #: The longest an idle completer sleeps between checks, seconds.
    idle_seconds = 0.5
    #: A started run's start is recorded at the latest this long after it began, seconds. A
    #: worker killed within it hands the run back uncharged (once: ``ExecutorPool._begin``).
    start_record_seconds = 0.25

    def __init__(self, *, worker_id: str) -> None:
        super().__init__("completer")
        c = conf()
        self.worker_id = worker_id
        self.batch = c.COMPLETE_BATCH
        self.max_bytes = c.MAX_WRITE_BYTES
        self.flush_seconds = c.COMPLETE_FLUSH_SECONDS
        self.lock = threading.Lock()
        #: Outcomes handed over and not yet taken for writing.
        self.unwritten: list[outcomes.Outcome] = []
        #: Taken for writing but not yet committed: still unwritten for everyone asking.
        self.inflight: list[RunKey] = []
        #: Starts not recorded yet: run → (handler start, monotonic time handed over).
        self.starts: dict[RunKey, tuple[datetime, float]] = {}
        self.written = 0

    def started(self, task_id: int, run: int, at: datetime) -> None:
        with self.lock:
            first = not self.starts
            self.starts[(task_id, run)] = (at, time.monotonic())
        if first:
            self.notify()  # arm the timer; later starts are written in the same round

    def add(self, outcome: outcomes.Outcome) -> None:
        with self.lock:
            self.unwritten.append(outcome)
        self.notify()

    def unwritten_runs(self) -> list[RunKey]:
        """Runs whose outcome is not committed yet (their leases must still be renewed)."""
        with self.lock:
            return [(o.task_id, o.run or 0) for o in self.unwritten] + self.inflight

    def step(self) -> float:
        if self.unwritten:
            # Let a few more outcomes gather so one statement carries them all.
            time.sleep(self.flush_seconds)
            self.flush()
        return self.record_starts()

    def record_starts(self) -> float:
        """Write the starts older than ``start_record_seconds``; return the wait to the next."""
        cutoff = time.monotonic() - self.start_record_seconds
        with self.lock:
            due = [(pk, run, at) for (pk, run), (at, t) in self.starts.items() if t <= cutoff]
            for pk, run, _ in due:
                del self.starts[(pk, run)]
            left = min((t for _, t in self.starts.values()), default=None)
        try:
            recorded = transitions.mark_started(worker=self.worker_id, starts=due)
        except DatabaseError:
            with self.lock:
                for pk, run, at in due:
                    self.starts.setdefault((pk, run), (at, 0.0))
            raise
        if recorded < len(due):
            logger.debug("completer: %d start(s) already ended or taken", len(due) - recorded)
        if left is None:
            return self.idle_seconds
        return max(0.0, min(self.idle_seconds, left + self.start_record_seconds - time.monotonic()))

    def flush(self) -> None:
        """Write everything waiting; on a database error put the rest back and raise.

        Rows the database refuses are isolated by ``isolate.write_chunk`` (recorded as failed, or
        skipped): only an error about the connection or the server puts outcomes back.
        """
        with self.lock:
            taken, self.unwritten = self.unwritten, []
            self.inflight = [(o.task_id, o.run or 0) for o in taken]
            # An outcome records its run's start itself.
            for key in self.inflight:
                self.starts.pop(key, None)
        if not taken:
            return
        fence = Q(worker=self.worker_id)
        done = 0
        try:
            for chunk in isolate.chunks(taken, max_rows=self.batch, max_bytes=self.max_bytes):
                self.written += isolate.write_chunk(chunk, fence=fence)
                done += len(chunk)
        except DatabaseError:
            with self.lock:
                self.unwritten[:0] = taken[done:]
            raise
        finally:
            with self.lock:
                self.inflight = []

    def drain(self, timeout: float) -> bool:
        """Flush until nothing is waiting or ``timeout`` passes (at shutdown, on the caller's thread)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.flush()
            except DatabaseError as exc:
                logger.warning("completer: database error, will retry %d outcome(s): %s",
                               len(self.unwritten_runs()), exc)
                connection.close()
                continue
            if not self.unwritten_runs():
                return True
        return False
