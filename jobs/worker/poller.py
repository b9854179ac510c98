"""A thread that repeats ``poll()``; ``poll`` returns the delay before the next round."""

import logging
import random
import threading

from django.db import close_old_connections, connection
from django.db.utils import DatabaseError

logger = logging.getLogger(__name__)


class Poller(threading.Thread):
    #: Seconds to wait after a failed round before trying again.
    error_delay = 1.0

    def __init__(self, name: str, stop: threading.Event) -> None:
        super().__init__(name=name, daemon=True)
        self.stop_event = stop

    def poll(self) -> float:
        raise NotImplementedError

    def run(self) -> None:
        try:
            while not self.stop_event.is_set():
                try:
                    delay = self.poll()
                except DatabaseError as exc:
                    # A restarted or unreachable database: drop the connection, try again.
                    logger.warning("%s: database error: %s", self.name, exc)
                    connection.close()
                    delay = self.error_delay
                except Exception:
                    logger.exception("%s: round failed", self.name)
                    close_old_connections()
                    delay = self.error_delay
                self.stop_event.wait(delay)
        finally:
            connection.close()


def jittered(seconds: float) -> float:
    """Spread periodic work of many processes so they do not all hit the database at once."""
    return seconds * random.uniform(0.8, 1.2)  # noqa: S311
