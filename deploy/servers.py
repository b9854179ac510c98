"""MariaDB and Redis for a benchmark run or a local topology: on temporary directories and free ports.

Both listen on 127.0.0.1 only. MariaDB gets a dedicated ``bench`` user (password login
over TCP, which every system under test uses) and a ``bench`` database; Redis a random
password (in its URL). Everything is removed when the run ends.
"""

import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote, urlsplit

from .procs import ProcessError, free_port, spawn, stop, wait_port

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


class ServerError(ProcessError):
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
    proc = spawn(
        [MARIADBD, "--no-defaults", f"--datadir={datadir}", f"--socket={sock}", f"--port={port}",
         "--bind-address=127.0.0.1", f"--pid-file={workdir / 'mariadb.pid'}", f"--log-error={log}",
         f"--tmpdir={workdir}", *MARIADB_OPTIONS, *user],
    )
    wait_port(port, 60, proc, "mariadbd", log)
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
    # A password, as production's Redis has (docker-compose.yml): what runs here must send one.
    # In a file only we can read, not on the command line other local users see.
    password = secrets.token_urlsafe(24)
    conf = workdir / "redis.conf"
    conf.touch(mode=0o600)
    conf.write_text(f"requirepass {password}\n")
    proc = spawn(
        [REDIS_SERVER, str(conf), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir),
         "--logfile", str(log), "--daemonize", "no", *REDIS_OPTIONS],
    )
    wait_port(port, 60, proc, "redis-server", log)
    return proc, f"redis://:{password}@127.0.0.1:{port}/0"


@contextmanager
def servers(*, database_url: str | None = None, redis_url: str | None = None,
            workdir: Path | None = None) -> Iterator[Servers]:
    """Yield the servers' URLs, starting whichever was not given; stop what was started."""
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
            stop(proc, timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


def relaunch(servers: Servers, name: str, workdir: Path) -> None:
    """Start server ``name`` again with the command line it ran with (same datadir and port)."""
    old = servers.processes[name]
    if old.poll() is None:
        raise ServerError(f"{name} is still running")
    new = spawn(cast(list[str], old.args))
    # ``servers()`` stops whatever this dict holds when the run ends.
    servers.processes[name] = new
    url = servers.database_url if name == "mariadb" else servers.redis_url
    wait_port(urlsplit(url).port or 0, 120, new, name, workdir / "missing.log")


def connect(database_url: str) -> Any:
    """A fresh MySQLdb connection to ``database_url`` (autocommit)."""
    import MySQLdb

    parts = urlsplit(database_url)
    conn = MySQLdb.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 3306,
                           user=unquote(parts.username or ""), password=unquote(parts.password or ""),
                           database=parts.path.lstrip("/"), charset="utf8mb4", connect_timeout=5)
    conn.autocommit(True)
    return conn


def query(database_url: str, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
    """Run one statement on a fresh connection; its rows."""
    conn = connect(database_url)
    try:
        cur = conn.cursor()
        cur.execute(sql, params)
        return list(cur.fetchall())
    finally:
        conn.close()
