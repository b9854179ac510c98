"""Delete finished tasks past their retention, a bounded batch at a time."""

from ..conf import conf
from ..services import maintenance
from .service import Service, jittered


class Pruner(Service):
    def __init__(self) -> None:
        super().__init__("pruner")
        self.interval = conf().PRUNE_SECONDS
        self.first = True

    def step(self) -> float:
        if self.first:
            # Do not make every process prune the moment the fleet starts.
            self.first = False
            return jittered(self.interval)
        # Bounded per round so a backlog of old rows never holds the database for long.
        maintenance.prune(max_batches=10)
        maintenance.prune_side_tables()
        return jittered(self.interval)
