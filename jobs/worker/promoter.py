"""Promote scheduled tasks (delayed, or retrying after backoff) once they are due."""

from collections.abc import Callable

from ..conf import conf
from ..services import maintenance
from .service import Service, jittered


class Promoter(Service):
    def __init__(self, *, on_promoted: Callable[[], None]) -> None:
        super().__init__("promoter")
        self.interval = conf().PROMOTE_SECONDS
        self.on_promoted = on_promoted

    def step(self) -> float:
        if maintenance.promote_due():
            self.on_promoted()
        return jittered(self.interval)
