"""Promote scheduled tasks (delayed, or retrying after backoff) once they are due."""

import threading
from collections.abc import Callable

from ..services import maintenance
from .poller import Poller, jittered


class Promoter(Poller):
    def __init__(self, *, interval: float, on_promoted: Callable[[], None], stop: threading.Event) -> None:
        super().__init__("promoter", stop)
        self.interval = interval
        self.on_promoted = on_promoted

    def poll(self) -> float:
        if maintenance.promote_due():
            self.on_promoted()
        return jittered(self.interval)
