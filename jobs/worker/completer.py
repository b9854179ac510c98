"""Write outcomes in batches: every few milliseconds or every N rows (or M bytes), one UPDATE each."""

import logging
import threading
import time

from django.db import connection
from django.db.models import Q
from django.db.utils import DatabaseError

from ..conf import conf
from ..store import finish as outcomes
from ..store import isolate
from .pool import RunKey
from .service import Service

logger = logging.getLogger(__name__)


class Completer(Service):
    #: Seconds to back off after a failed write (the outcomes wait for the next round).
    error_delay = 0.5
    #: The longest an idle completer sleeps between checks, seconds.
    idle_seconds = 0.5

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
        self.written = 0

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
        return self.idle_seconds

    def flush(self) -> None:
        """Write everything waiting; on a database error put the rest back and raise.

        Rows the database refuses are isolated by ``isolate.write_chunk`` (recorded as failed, or
        skipped): only an error about the connection or the server puts outcomes back.
        """
        with self.lock:
            taken, self.unwritten = self.unwritten, []
            self.inflight = [(o.task_id, o.run or 0) for o in taken]
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
