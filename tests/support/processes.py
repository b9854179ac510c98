"""Processes a test starts: ``runworkers`` supervisors and a web server, ``manage.py serve`` (stopped by the test)."""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from deploy import procs
from tests.support import ROOT
from tests.support.waiting import wait_for


class Workers:
    """``manage.py runworkers`` subprocesses started by a test, stopped at its end."""

    def __init__(self, env: dict[str, str], tmp_path: Path) -> None:
        self.env = env
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen[bytes]] = []
        #: Pids of the ``faketime`` wrappers among ``procs``.
        self.wrapped: set[int] = set()

    def start(self, *args: str, env: dict[str, str] | None = None,
              faketime: str | None = None) -> subprocess.Popen[bytes]:
        """Start ``runworkers *args``; with ``faketime`` (e.g. ``"-30s"``) its clock runs that far off."""
        argv = [sys.executable, str(ROOT / "manage.py"), "runworkers", *args]
        extra = dict(env or {})
        if faketime is not None:
            argv = [faketime_binary(), "-f", faketime, *argv]
            # A host whose clock is off has a wrong wall clock, not a wrong monotonic one; the
            # sitecustomize there works around libfaketime's sleep in that mode.
            extra["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
            extra["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent / "faketime"), self.env["PYTHONPATH"]])
        proc = procs.spawn(argv, env={**self.env, **extra},
                           log=self.tmp_path / f"workers-{len(self.procs)}.log")
        self.procs.append(proc)
        if faketime is not None:
            self.wrapped.add(proc.pid)
        return proc

    def log(self, index: int = 0) -> str:
        return (self.tmp_path / f"workers-{index}.log").read_text(errors="replace")

    def supervisor_pid(self, proc: subprocess.Popen[bytes]) -> int:
        """The pid of the ``runworkers`` supervisor ``proc`` is (or, under ``faketime``, started)."""
        if proc.pid not in self.wrapped:
            return proc.pid
        # faketime forks its command, waits for it, and passes no signal on: signal the command.
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        return int(children[0]) if children else proc.pid

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, FileNotFoundError):
                    os.kill(self.supervisor_pid(proc), signal.SIGTERM)  # every supervisor drains at once
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                procs.kill(proc)  # kill -9 its whole group


def faketime_binary() -> str:
    """The ``faketime`` command (Debian's package); its absence fails the test, never skips it."""
    found = shutil.which("faketime")
    if found is None:
        pytest.fail("faketime is not installed: `make test` installs it (scripts/setup-system.sh test)",
                    pytrace=False)
    return found


class DaphneServer:
    """``manage.py serve`` (one daphne worker under gunicorn) on 127.0.0.1 with a test database's environment."""

    def __init__(self, env: dict[str, str], log: Path, extra_env: dict[str, str] | None = None,
                 workers: int = 1) -> None:
        self.port = procs.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self.proc = procs.web(self.port, env={**env, "LOG_LEVEL": "INFO", **(extra_env or {})}, log=log,
                              workers=workers)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def healthy(self) -> bool:
        if self.proc.poll() is not None:
            pytest.fail(f"serve exited with {self.proc.returncode}:\n{self.log()}")
        try:
            with urllib.request.urlopen(f"{self.url}/api/health", timeout=10) as resp:  # noqa: S310 (127.0.0.1)
                return bool(resp.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def wait_healthy(self) -> None:
        wait_for(self.healthy, timeout=60, interval=0.2, what="serve to answer /api/health")

    def stop(self) -> None:
        procs.stop(self.proc, timeout=15)
