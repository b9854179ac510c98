"""Return tasks whose worker died (lapsed lease) to the queue; forget dead processes."""

from ..conf import conf
from ..services import maintenance
from .service import Service, jittered


class Rescuer(Service):
    def __init__(self) -> None:
        super().__init__("rescuer")
        self.interval = conf().RESCUE_SECONDS

    def step(self) -> float:
        while maintenance.rescue_expired() > 0:
            pass
        maintenance.reap_dead_workers()
        return jittered(self.interval)
