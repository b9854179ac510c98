"""Processes a test starts: ``runworkers`` supervisors and a daphne web server (stopped by the test)."""

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

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        proc = procs.spawn([sys.executable, str(ROOT / "manage.py"), "runworkers", *args],
                           env={**self.env, **(env or {})}, log=self.tmp_path / f"workers-{len(self.procs)}.log")
        self.procs.append(proc)
        return proc

    def log(self, index: int = 0) -> str:
        return (self.tmp_path / f"workers-{index}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # every supervisor drains at once
        for proc in self.procs:
            procs.stop(proc, timeout=30)


class DaphneServer:
    """``daphne engine_site.asgi:application`` on 127.0.0.1 with a test database's environment."""

    def __init__(self, env: dict[str, str], log: Path, extra_env: dict[str, str] | None = None) -> None:
        self.port = procs.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self.proc = procs.daphne(self.port, env={**env, "LOG_LEVEL": "INFO", **(extra_env or {})}, log=log)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def healthy(self) -> bool:
        if self.proc.poll() is not None:
            pytest.fail(f"daphne exited with {self.proc.returncode}:\n{self.log()}")
        try:
            with urllib.request.urlopen(f"{self.url}/api/health", timeout=10) as resp:  # noqa: S310 (127.0.0.1)
                return bool(resp.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def wait_healthy(self) -> None:
        wait_for(self.healthy, timeout=60, interval=0.2, what="daphne to answer /api/health")

    def stop(self) -> None:
        procs.stop(self.proc, timeout=15)
