"""Delete finished tasks past their retention, a bounded batch at a time."""

import threading

from ..services import maintenance
from .poller import Poller, jittered


class Pruner(Poller):
    def __init__(self, *, interval: float, stop: threading.Event) -> None:
        super().__init__("pruner", stop)
        self.interval = interval
        self.first = True

    def poll(self) -> float:
        if self.first:
            # Do not make every process prune the moment the fleet starts.
            self.first = False
            return jittered(self.interval)
        # Bounded per round so a backlog of old rows never holds the database for long.
        maintenance.prune(max_batches=10)
        maintenance.prune_side_tables()
        return jittered(self.interval)
