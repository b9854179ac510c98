"""Fire due schedule ticks (``jobs.services.firing``): every live instance runs this; the tick's
uniqueness, not a leader, makes each tick one task."""

from collections.abc import Callable

from ..conf import conf
from ..services import firing
from .service import Service, jittered


class Scheduler(Service):
    def __init__(self, *, on_fired: Callable[[], None]) -> None:
        super().__init__("scheduler")
        self.interval = conf().SCHEDULE_SECONDS
        self.on_fired = on_fired

    def step(self) -> float:
        if firing.fire_due():
            self.on_fired()  # this process's dispatcher claims at once (the others hear the wake-up)
        return jittered(self.interval)
