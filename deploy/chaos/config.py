"""The chaos run's sizes and timings."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..topology import FAST_TIMINGS

#: Requests this long after MariaDB is back still count as "during the outage" (stale pooled connections).
RECONNECT_SECONDS = 5.0

#: The chaos run's engine timings: the tests' fast ones. A dead worker's tasks are rescued within
#: LEASE + RESCUE ≈ 5 s. The lease must outlast a MariaDB restart (else every running task's lease
#: lapses while nobody can renew it, and those tasks run twice): 10 s covers the 2–5 s restarts here.
CHAOS_TIMINGS: dict[str, str] = {**FAST_TIMINGS, "JOBS_LEASE_SECONDS": "10"}


@dataclass
class Config:
    tasks: int = 10_000
    batch: int = 100
    #: Seconds over which the submissions are spread; the disruptions happen within them.
    duration: float = 60.0
    redis_down: float = 10.0
    sleep_min: float = 0.02
    sleep_max: float = 0.05
    webs: int = 3
    workers: int = 3
    processes: int = 1
    threads: int = 4
    submitters: int = 3
    #: Seconds the tasks may take to finish after the last submission.
    settle_timeout: float = 600.0
    victim_worker: int = 2
    victim_web: int = 2
    #: The web instance hammered directly during the database restart (besides nginx).
    direct_web: int = 1
    seed: int = 6
    timings: dict[str, str] = field(default_factory=lambda: dict(CHAOS_TIMINGS))

    @classmethod
    def bounded(cls) -> Config:
        """The CI version: 1,500 tasks, Redis down 5 s."""
        return cls(tasks=1_500, batch=50, duration=30.0, redis_down=5.0, settle_timeout=180.0)
