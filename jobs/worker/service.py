"""The one shape of every worker thread: a named daemon that repeats ``step()`` until stopped.

``step()`` returns the seconds to wait before the next step. The wait ends early on
``notify()`` (there is news) or ``stop()``. A database error closes the connection and
backs off (a notification cannot help a failing database); the connection is closed
when the thread ends.
"""

import logging
import random
import threading
import time

from django.db import close_old_connections, connection
from django.db.utils import DatabaseError

logger = logging.getLogger(__name__)


class Service(threading.Thread):
    #: Seconds to back off after a failed step.
    error_delay = 1.0
    #: Repeated database errors are logged at most once per this many seconds.
    warn_every = 30.0

    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._wake = threading.Event()
        self._stopped = False
        self._warned_at = -self.warn_every

    def step(self) -> float:
        """Do one round of work; return the seconds to wait before the next."""
        raise NotImplementedError

    def setup(self) -> None:
        """Acquire what the service holds, on its own thread before the first step."""

    def teardown(self) -> None:
        """Release what ``setup`` acquired (at thread exit, whatever happened)."""

    def notify(self) -> None:
        """Cut the current wait short: there is news."""
        self._wake.set()

    def stop(self) -> None:
        """End the loop after the current step (safe from any thread and from a signal handler)."""
        self._stopped = True
        self._wake.set()

    def run(self) -> None:
        try:
            self.setup()
            while True:
                # Clear before the stop check: a stop() racing with it is seen either here or by the wait.
                self._wake.clear()
                if self._stopped:
                    return
                try:
                    delay = self.step()
                except DatabaseError as exc:
                    # A restarted or unreachable database: drop the connection, try again later.
                    self._warn(exc)
                    connection.close()
                    self.back_off(self.error_delay)
                    continue
                except Exception:
                    logger.exception("%s: step failed", self.name)
                    close_old_connections()
                    self.back_off(self.error_delay)
                    continue
                if delay > 0:
                    self._wake.wait(delay)
        finally:
            try:
                self.teardown()
            finally:
                connection.close()

    def back_off(self, seconds: float) -> None:
        """Wait ``seconds`` whatever news arrives; only ``stop()`` ends it early."""
        deadline = time.monotonic() + seconds
        while not self._stopped and (left := deadline - time.monotonic()) > 0:
            self._wake.wait(left)
            self._wake.clear()  # the next step re-reads every state a notification could announce

    def _warn(self, exc: DatabaseError) -> None:
        now = time.monotonic()
        if now - self._warned_at >= self.warn_every:
            self._warned_at = now
            logger.warning("%s: database error (retrying every %ss, repeats muted for %ss): %s",
                           self.name, self.error_delay, self.warn_every, exc)


def jittered(seconds: float) -> float:
    """Spread periodic work of many processes so they do not all hit the database at once."""
    return seconds * random.uniform(0.8, 1.2)  # noqa: S311
