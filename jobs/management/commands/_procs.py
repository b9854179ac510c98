"""The children ``runengine`` starts: a worker supervisor and the web tier (``serve``), stopped with SIGTERM.

The engine's own copy, on purpose: the product never imports the tooling's ``deploy.procs``.
"""

import signal
import subprocess
import sys


def runworkers(processes: int, threads: int) -> subprocess.Popen[bytes]:
    """``manage.py runworkers`` (the same manage.py this command runs from)."""
    return subprocess.Popen(  # noqa: S603 — our own manage.py with validated options
        [sys.executable, sys.argv[0], "runworkers", "--processes", str(processes), "--threads", str(threads)],
    )


def serve(host: str, port: int) -> subprocess.Popen[bytes]:
    """``manage.py serve``: the production web tier (API, console, admin, SSE), one process per core."""
    return subprocess.Popen(  # noqa: S603 — our own manage.py with validated options
        [sys.executable, sys.argv[0], "serve", "--host", host, "--port", str(port)],
    )


def stop(children: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every child still running (workers drain), then wait for them all."""
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        child.wait()
