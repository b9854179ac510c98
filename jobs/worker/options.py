"""What a worker process is asked to do (importable before Django is set up)."""

from dataclasses import dataclass

#: Exit code asking the supervisor for a fresh process (too many abandoned threads).
EXIT_RECYCLE = 75


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    threads: int = 4
    queues: tuple[str, ...] = ()
    burst: bool = False
    drain_seconds: float | None = None
    maintenance: bool = True
