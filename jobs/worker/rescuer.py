"""Return tasks whose worker died (lapsed lease) to the queue; forget dead processes."""

import threading

from ..services import maintenance
from .poller import Poller, jittered


class Rescuer(Poller):
    def __init__(self, *, interval: float, stop: threading.Event) -> None:
        super().__init__("rescuer", stop)
        self.interval = interval

    def poll(self) -> float:
        while maintenance.rescue_expired() > 0:
            pass
        maintenance.reap_dead_workers()
        return jittered(self.interval)
