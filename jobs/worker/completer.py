"""Write outcomes in batches: every few milliseconds or every N rows, one UPDATE each."""

import logging
import threading
import time

from django.db import connection
from django.db.models import Q
from django.db.utils import DatabaseError

from ..store import finish as outcomes

logger = logging.getLogger(__name__)


class Completer(threading.Thread):
    def __init__(self, *, worker_id: str, batch: int, flush_seconds: float, stop: threading.Event) -> None:
        super().__init__(name="completer", daemon=True)
        self.worker_id = worker_id
        self.batch = batch
        self.flush_seconds = flush_seconds
        self.stop_event = stop
        self.lock = threading.Lock()
        self.has_work = threading.Event()
        self.pending: list[outcomes.Outcome] = []
        #: Taken for writing but not yet committed: still "unwritten" for everyone asking.
        self.inflight: list[int] = []
        self.written = 0
        self.fenced_off = 0

    def add(self, outcome: outcomes.Outcome) -> None:
        with self.lock:
            self.pending.append(outcome)
        self.has_work.set()

    def pending_ids(self) -> list[int]:
        with self.lock:
            return [o.task_id for o in self.pending] + self.inflight

    def run(self) -> None:
        try:
            while not self.stop_event.is_set():
                self.has_work.wait(0.5)
                if self.stop_event.is_set():
                    break
                # Let a few more outcomes gather so one statement carries them all.
                time.sleep(self.flush_seconds)
                self.flush()
        finally:
            connection.close()

    def flush(self) -> bool:
        """Write everything waiting; on a database error keep it for the next round."""
        with self.lock:
            taken, self.pending = self.pending, []
            self.inflight = [o.task_id for o in taken]
            self.has_work.clear()
        if not taken:
            return True
        try:
            return self._write(taken)
        finally:
            with self.lock:
                self.inflight = []

    def _write(self, taken: list[outcomes.Outcome]) -> bool:
        fence = Q(worker=self.worker_id)
        done = 0
        try:
            while done < len(taken):
                chunk = taken[done:done + self.batch]
                changed = outcomes.write(chunk, fence=fence)
                self.written += changed
                self.fenced_off += len(chunk) - changed
                done += len(chunk)
            return True
        except DatabaseError as exc:
            remainder = taken[done:]
            logger.warning("completer: database error, will retry %d outcome(s): %s", len(remainder), exc)
            connection.close()
            with self.lock:
                self.pending[:0] = remainder
            self.has_work.set()
            self.stop_event.wait(0.5)
            return False

    def drain(self, timeout: float) -> bool:
        """Flush until nothing is waiting or ``timeout`` passes (used at shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.flush() and not self.pending_ids():
                return True
        return False
