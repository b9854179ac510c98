"""How long a worker took to start: the supervisor process's start, Django ready, the fork, the first claim.

Each worker process logs one ``startup:`` line at its dispatcher's first claim round (INFO, logger
``jobs.worker.runtime``; ``runworkers`` logs ``jobs`` at INFO whatever LOG_LEVEL says)::

    worker vm:12:ab12cd34: startup: ready_ms=1388 fork_ms=1420 first_claim_ms=1467 tasks=8 first_claim_at=1764634339.12

``*_ms`` are milliseconds since the supervisor process started (read from the kernel, so the
interpreter's start and Django's set-up are in them); ``first_claim_at`` is the same moment as
a Unix time, for a caller that timed its own ``Popen``. ``tasks`` is how many the round claimed
(0: nothing was ready). Importable before Django is set up.
"""

import os
import time
from dataclasses import dataclass


def process_started(pid: int | None = None) -> float | None:
    """When process ``pid`` (this one by default) started, as a Unix time (±10 ms); None off Linux."""
    try:
        with open(f"/proc/{pid or os.getpid()}/stat", "rb") as f:
            stat = f.read()
        # Fields after the command name (which may hold spaces): the 22nd field is the start in
        # clock ticks since boot, on the clock CLOCK_BOOTTIME reads.
        ticks = int(stat.rsplit(b")", 1)[1].split()[19])
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None
    return time.time() - age


@dataclass(frozen=True, slots=True)
class StartTimes:
    """Unix times of a worker process's start, handed from the supervisor to each child."""

    #: The supervisor process's start (the interpreter's); its Django-ready time when unknown.
    process: float
    #: Django set up and the command's options parsed: the supervisor's work begins.
    ready: float

    @classmethod
    def now(cls) -> "StartTimes":
        ready = time.time()
        return cls(process=process_started() or ready, ready=ready)

    def line(self, *, forked: float, first_claim: float, tasks: int) -> str:
        def ms(t: float) -> int:
            return round((t - self.process) * 1000)

        return (f"startup: ready_ms={ms(self.ready)} fork_ms={ms(forked)} first_claim_ms={ms(first_claim)} "
                f"tasks={tasks} first_claim_at={first_claim:.6f}")
