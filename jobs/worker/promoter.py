"""Promote scheduled tasks (delayed, or retrying after backoff) once they are due; now and
then, unblock tasks whose concurrency key has slots free (``maintenance.unblock_free_keys``)."""

import time
from collections.abc import Callable

from ..conf import conf
from ..services import maintenance
from .service import Service, jittered


class Promoter(Service):
    def __init__(self, *, on_promoted: Callable[[], None]) -> None:
        super().__init__("promoter")
        self.interval = conf().PROMOTE_SECONDS
        self.on_promoted = on_promoted
        self.sweep_seconds = conf().UNBLOCK_SWEEP_SECONDS
        self.swept = time.monotonic()

    def step(self) -> float:
        woke = maintenance.promote_due()
        if time.monotonic() - self.swept > self.sweep_seconds:
            self.swept = time.monotonic()
            woke += maintenance.unblock_free_keys()
        if woke:
            self.on_promoted()
        return jittered(self.interval)
