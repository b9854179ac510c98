"""MariaDB and Redis for a benchmark run: started on temporary directories and free ports.

Both listen on 127.0.0.1 only. MariaDB gets a dedicated ``bench`` user (password login
over TCP, which every system under test uses) and a ``bench`` database. Everything is
removed when the run ends.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

MARIADBD = "/usr/sbin/mariadbd"
MARIADB_INSTALL_DB = "/usr/bin/mariadb-install-db"
REDIS_SERVER = "/usr/bin/redis-server"

DB_NAME = "bench"
DB_USER = "bench"
DB_PASSWORD = "bench-only-password"  # noqa: S105 — a throw-away server on 127.0.0.1

#: The server options the benchmark runs with (docs/BENCHMARKS.md quotes them).
MARIADB_OPTIONS = (
    "--innodb-buffer-pool-size=512M",
    "--innodb-log-file-size=256M",
    "--innodb-flush-log-at-trx-commit=2",
    "--skip-log-bin",
    "--max-connections=500",
    "--skip-name-resolve",
)
REDIS_OPTIONS = ("--save", "", "--appendonly", "no")


class ServerError(RuntimeError):
    """A server could not be started (the message says why, with its log's tail)."""


@dataclass
class Servers:
    database_url: str
    redis_url: str
    #: Processes this run started (empty when DATABASE_URL / REDIS_URL were given).
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)

    def pid(self, name: str) -> int | None:
        proc = self.processes.get(name)
        return proc.pid if proc else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(f"{what} exited with {proc.returncode}:\n{_tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise ServerError(f"{what} did not listen on port {port} within {timeout:.0f}s:\n{_tail(log)}")


def _as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def start_mariadb(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    for binary in (MARIADBD, MARIADB_INSTALL_DB):
        if not Path(binary).exists():
            raise ServerError(f"{binary} is missing: install mariadb-server (`make test` does), or set DATABASE_URL")
    datadir, sock, log = workdir / "mariadb", workdir / "mariadb.sock", workdir / "mariadb.log"
    user = ["--user=root"] if _as_root() else []
    install = subprocess.run(  # noqa: S603 — fixed binary, arguments built here
        [MARIADB_INSTALL_DB, "--no-defaults", f"--datadir={datadir}", "--auth-root-authentication-method=normal",
         "--skip-test-db", *user],
        capture_output=True, timeout=180, check=False,
    )
    if install.returncode != 0:
        output = install.stdout.decode()[-2000:] + install.stderr.decode()[-2000:]
        raise ServerError(f"mariadb-install-db failed:\n{output}")
    port = free_port()
    proc = subprocess.Popen(  # noqa: S603
        [MARIADBD, "--no-defaults", f"--datadir={datadir}", f"--socket={sock}", f"--port={port}",
         "--bind-address=127.0.0.1", f"--pid-file={workdir / 'mariadb.pid'}", f"--log-error={log}",
         f"--tmpdir={workdir}", *MARIADB_OPTIONS, *user],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    _wait_port(port, proc, log, "mariadbd")
    import MySQLdb

    deadline = time.monotonic() + 30
    while True:
        try:
            conn = MySQLdb.connect(unix_socket=str(sock), user="root")
            break
        except MySQLdb.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    try:
        cur = conn.cursor()
        cur.execute(f"CREATE DATABASE {DB_NAME} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        for host in ("127.0.0.1", "localhost"):
            cur.execute(f"CREATE USER '{DB_USER}'@'{host}' IDENTIFIED BY '{DB_PASSWORD}'")
            cur.execute(f"GRANT ALL PRIVILEGES ON *.* TO '{DB_USER}'@'{host}'")
        conn.commit()
    finally:
        conn.close()
    return proc, f"mysql://{DB_USER}:{DB_PASSWORD}@127.0.0.1:{port}/{DB_NAME}"


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    if not Path(REDIS_SERVER).exists():
        raise ServerError(f"{REDIS_SERVER} is missing: install redis-server (`make test` does), or set REDIS_URL")
    port = free_port()
    log = workdir / "redis.log"
    proc = subprocess.Popen(  # noqa: S603
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir),
         "--logfile", str(log), "--daemonize", "no", *REDIS_OPTIONS],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    _wait_port(port, proc, log, "redis-server")
    return proc, f"redis://127.0.0.1:{port}/0"


def stop(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def check_database_url(url: str) -> None:
    """A given DATABASE_URL must be MySQL/MariaDB, and its database is emptied: it must say so."""
    parts = urlsplit(url)
    if parts.scheme not in {"mysql", "mysql2", "mysqlgis", "mariadb"}:
        raise ServerError(f"the benchmark needs MySQL/MariaDB; DATABASE_URL is {parts.scheme}://…")
    name = parts.path.lstrip("/")
    if "bench" not in name:
        raise ServerError(
            f"DATABASE_URL names the database {name!r}: the benchmark empties its tables, so it only "
            "uses a database whose name contains 'bench'"
        )


@contextmanager
def servers(*, database_url: str | None = None, redis_url: str | None = None,
            workdir: Path | None = None) -> Iterator[Servers]:
    """Yield the servers' URLs, starting whichever was not given; stop what was started."""
    if database_url:
        check_database_url(database_url)
    tmp = Path(tempfile.mkdtemp(prefix="jobs-bench-", dir=workdir))
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        if not database_url:
            procs["mariadb"], database_url = start_mariadb(tmp)
        if not redis_url:
            procs["redis"], redis_url = start_redis(tmp)
        yield Servers(database_url=database_url, redis_url=redis_url, processes=procs, started=list(procs))
    finally:
        for proc in procs.values():
            stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)
