"""One engine process of the topology (a web instance or a worker supervisor), restartable."""

import contextlib
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .. import procs
from .config import TopologyError


@dataclass
class Process:
    """One engine process and how to (re)start it."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    port: int | None = None
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        if self.alive:
            raise TopologyError(f"{self.name} is already running (pid {self.pid})")
        self.popen = procs.spawn(self.argv, env=self.env, log=self.log, append=True)
        self.starts += 1

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def terminate(self) -> None:
        """SIGTERM to the process itself, without waiting (a worker supervisor starts draining)."""
        if self.alive and self.popen is not None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """kill -9 the process and every process it started (its process group)."""
        if self.popen is not None:
            procs.kill(self.popen)

    def stop(self, timeout: float = 30, sig: signal.Signals = signal.SIGTERM) -> int | None:
        """Ask it to stop (SIGTERM: workers drain), then kill its group after ``timeout`` seconds."""
        if self.popen is None:
            return None
        procs.stop(self.popen, timeout=timeout, sig=sig)
        # Whatever it left behind in its group (a worker child that outlived its supervisor).
        procs.kill(self.popen)
        return self.popen.returncode
