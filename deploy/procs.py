"""The local processes the tooling and the tests start: ports, spawning, waiting, stopping.

Every process gets a session (so a process group) of its own: stopping one is "SIGTERM,
then kill -9 its whole group", which also takes down whatever it started.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class ProcessError(RuntimeError):
    """A process did not start or did not answer (the message says why, with its log's tail)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def tail(path: Path | None, lines: int = 20) -> str:
    """The last ``lines`` lines of a log, for an error message."""
    if path is None:
        return ""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None, what: str = "server",
              log: Path | None = None) -> None:
    """Wait until something listens on 127.0.0.1:``port``; fail early if ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ProcessError(f"{what} exited with {proc.returncode}:\n{tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise ProcessError(f"{what} did not listen on port {port} within {timeout:.0f}s:\n{tail(log)}")


def spawn(argv: Sequence[str], *, env: Mapping[str, str] | None = None, log: Path | None = None,
          append: bool = False, cwd: Path = ROOT) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a session of its own, its output to ``log`` (or nowhere)."""
    out = log.open("ab" if append else "wb") if log is not None else None
    try:
        return subprocess.Popen(  # noqa: S603 — argv is built by the caller from our own commands
            list(argv), env=dict(env) if env is not None else None, cwd=cwd, stdin=subprocess.DEVNULL,
            stdout=out or subprocess.DEVNULL, stderr=subprocess.STDOUT if out else subprocess.DEVNULL,
            start_new_session=True,
        )
    finally:
        if out is not None:
            out.close()  # the child has its own copy


def web_argv(port: int, host: str = "127.0.0.1", workers: int = 1) -> list[str]:
    """The command line of one web instance: ``manage.py serve``, what production runs."""
    return [sys.executable, str(ROOT / "manage.py"), "serve", "--host", host, "--port", str(port),
            "--workers", str(workers)]


def web(port: int, *, env: Mapping[str, str], log: Path, workers: int = 1) -> subprocess.Popen[bytes]:
    return spawn(web_argv(port, workers=workers), env=env, log=log)


def kill(proc: subprocess.Popen[bytes]) -> None:
    """kill -9 ``proc``'s process group (whatever it left behind included) and reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def stop(proc: subprocess.Popen[bytes], *, timeout: float = 30, sig: int = signal.SIGTERM,
         group: bool = False) -> int:
    """Signal ``proc`` (or its whole group), wait up to ``timeout`` seconds, then kill -9 its group."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill(proc)
    return proc.returncode
