"""The production topology on one machine, without Docker, for tests and demos.

MariaDB and Redis (started by ``bench/servers.py`` on a temporary directory and free
ports), Debian's nginx (``/usr/sbin/nginx`` with a config generated from
``deploy/nginx.conf`` into a temporary prefix), N web instances (daphne,
``INSTANCE_ID=web1…``) and N worker supervisors (``manage.py runworkers``,
``INSTANCE_ID=worker1…``), all on 127.0.0.1. Every engine process runs
``engine_site.settings`` the way production does (``PRODUCTION=1``, JSON logs), each in
its own process group, so "kill -9 an instance" is ``os.killpg(pgid, SIGKILL)``.

From Python::

    with Topology(timings=FAST_TIMINGS) as topo:
        status, _, body = topo.api("POST", "/api/tasks", {"type": "noop"})
        topo.kill_worker(3)

From a shell: ``python manage.py topology`` or ``python deploy/topology.py`` (Ctrl-C stops
everything). ``Topology.describe()`` says where everything is.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python deploy/topology.py`
    sys.path.insert(0, str(ROOT))

from bench import servers as bench_servers  # noqa: E402

NGINX = "/usr/sbin/nginx"
NGINX_TEMPLATE = ROOT / "deploy" / "nginx.conf"
DEFAULT_NGINX_PORT = 8080

#: Short engine timings (``JOBS_<KEY>``) for tests and the chaos run: a dead worker's tasks are
#: rescued within LEASE + RESCUE ≈ 5 s instead of 25 s.
FAST_TIMINGS: dict[str, str] = {
    "JOBS_LEASE_SECONDS": "4",
    "JOBS_HEARTBEAT_SECONDS": "1",
    "JOBS_RESCUE_SECONDS": "1",
    "JOBS_POLL_SECONDS": "0.5",
    "JOBS_RETRY_BASE_DELAY": "0.1",
    "JOBS_DRAIN_SECONDS": "10",
}
#: Submissions a tenant may make per window in the topology (load tests, chaos).
HIGH_RATE_LIMIT = "100000000"

#: Variables of the calling environment that must not leak into the topology's processes.
_SCRUBBED = ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "SQLITE_PATH", "SQLITE_TEST_PATH",
             "TEST_DB_SOCKET", "TEST_DB_NAME", "INSTANCE_ID", "VAR_DIR", "PRODUCTION", "SECRET_KEY",
             "ALLOWED_HOSTS", "DEBUG", "METRICS_TOKEN")


class TopologyError(RuntimeError):
    """Something in the topology did not start (the message says what, with its log's tail)."""


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None, what: str = "server",
              log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise TopologyError(f"{what} exited with {proc.returncode}:\n{tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TopologyError(f"{what} did not listen on port {port} within {timeout:.0f}s:\n{tail(log)}")


def tail(path: Path | None, lines: int = 20) -> str:
    if path is None:
        return ""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def http_request(port: int, method: str, path: str, body: Any = None, headers: Mapping[str, str] | None = None,
                 timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request to 127.0.0.1:port; a JSON body for anything but bytes/str."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data: bytes | None
        hdrs = dict(headers or {})
        if body is None:
            data = None
        elif isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@dataclass
class Process:
    """One engine process (a web instance or a worker supervisor) and how to (re)start it."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    port: int | None = None
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _log_file: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        if self.alive:
            raise TopologyError(f"{self.name} is already running (pid {self.pid})")
        if self._log_file is not None:
            self._log_file.close()
        self._log_file = self.log.open("ab")
        self.popen = subprocess.Popen(  # noqa: S603 — argv built by Topology
            self.argv, env=self.env, cwd=ROOT, stdout=self._log_file, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        self.starts += 1

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """kill -9 the process and every process it started (its process group)."""
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait()

    def stop(self, timeout: float = 30, sig: signal.Signals = signal.SIGTERM) -> int | None:
        """Ask it to stop (SIGTERM: workers drain), then kill its group after ``timeout`` seconds."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        # Whatever it left behind in its group (a worker child that outlived its supervisor).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return self.popen.returncode


class Topology:
    """MariaDB, Redis, nginx, ``webs`` web instances and ``workers`` worker supervisors on 127.0.0.1."""

    def __init__(
        self,
        *,
        webs: int = 3,
        workers: int = 3,
        processes: int = 1,
        threads: int = 4,
        nginx_port: int | None = None,
        timings: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        workdir: Path | str | None = None,
        tenant: str = "demo",
        keep_workdir: bool = False,
        echo: bool = False,
        nginx_template: Path | str | None = None,
    ) -> None:
        if webs < 1 or workers < 0:
            raise ValueError("at least one web instance, and zero or more worker supervisors")
        self.n_webs = webs
        self.n_workers = workers
        self.processes = processes
        self.threads = threads
        self.requested_port = nginx_port
        self.extra_env = {**(timings or {}), **(env or {})}
        self.base_dir = Path(workdir) if workdir else None
        self.tenant = tenant
        self.keep_workdir = keep_workdir
        self.echo = echo
        self.nginx_template = Path(nginx_template) if nginx_template else NGINX_TEMPLATE
        self.workdir = Path()
        self.logs = Path()
        self.nginx_dir = Path()
        self.nginx_port = 0
        self.nginx: subprocess.Popen[bytes] | None = None
        self.servers: bench_servers.Servers | None = None
        self.webs: list[Process] = []
        self.workers: list[Process] = []
        self.api_key = ""
        self.secret_key = secrets.token_urlsafe(50)
        self.env: dict[str, str] = {}
        self._stack = contextlib.ExitStack()
        self._lock = threading.Lock()
        self.started = False

    # -- life cycle ------------------------------------------------------------------------------------

    def __enter__(self) -> Topology:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def say(self, text: str) -> None:
        if self.echo:
            print(text, flush=True)  # noqa: T201 — the CLI's progress

    def start(self) -> Topology:
        if not Path(NGINX).exists():
            raise TopologyError(f"{NGINX} is missing: install Debian's nginx (`make test` does)")
        self.workdir = Path(tempfile.mkdtemp(prefix="jobs-topology-", dir=self.base_dir))
        self.logs = self.workdir / "logs"
        self.logs.mkdir()
        self.say(f"topology: starting MariaDB and Redis under {self.workdir}")
        self.servers = self._stack.enter_context(bench_servers.servers(workdir=self.workdir))
        self.nginx_port = self._pick_nginx_port()
        self.env = self._engine_env()
        self.say("topology: migrating")
        self.manage("migrate", "--noinput", timeout=600)
        self.manage("create_tenant", self.tenant, "--slug", self.tenant, "--if-missing")
        created = self.manage("create_api_key", self.tenant, "--operator", "--json", "--name", "topology")
        self.api_key = json.loads(created.stdout.strip().splitlines()[-1])["key"]
        manage = str(ROOT / "manage.py")
        for i in range(1, self.n_webs + 1):
            port = bench_servers.free_port()
            self.webs.append(Process(
                name=f"web{i}", port=port, log=self.logs / f"web{i}.log",
                argv=[sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                      "engine_site.asgi:application"],
                env={**self.env, "INSTANCE_ID": f"web{i}"},
            ))
        for i in range(1, self.n_workers + 1):
            self.workers.append(Process(
                name=f"worker{i}", log=self.logs / f"worker{i}.log",
                argv=[sys.executable, manage, "runworkers", "--processes", str(self.processes),
                      "--threads", str(self.threads)],
                env={**self.env, "INSTANCE_ID": f"worker{i}"},
            ))
        self.say(f"topology: starting {self.n_webs} web instance(s) and {self.n_workers} worker supervisor(s)")
        for proc in [*self.webs, *self.workers]:
            proc.start()
        self.started = True
        for web in self.webs:
            self.wait_web(web)
        self._start_nginx()
        self.wait_workers({w.name for w in self.workers})
        self.say("topology: up")
        return self

    def stop(self) -> None:
        """Stop everything: nginx, the web instances, the workers (drained), then MariaDB and Redis."""
        if self.nginx is not None and self.nginx.poll() is None:
            self.nginx.terminate()
            try:
                self.nginx.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.nginx.kill()
                self.nginx.wait()
        for web in self.webs:
            web.stop(timeout=15)
        drain = float(self.env.get("JOBS_DRAIN_SECONDS", "30"))
        for worker in self.workers:
            if worker.alive and worker.popen is not None:
                with contextlib.suppress(ProcessLookupError):
                    worker.popen.send_signal(signal.SIGTERM)
        for worker in self.workers:
            worker.stop(timeout=drain + 20)
        # bench.servers stops the processes its Servers.processes names: restarted ones included.
        self._stack.close()
        self.started = False
        if self.workdir != Path() and not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # -- configuration ---------------------------------------------------------------------------------

    def _pick_nginx_port(self) -> int:
        if self.requested_port:
            if not port_is_free(self.requested_port):
                raise TopologyError(f"port {self.requested_port} is taken")
            return self.requested_port
        return bench_servers.free_port()

    @property
    def _servers(self) -> bench_servers.Servers:
        if self.servers is None:
            raise TopologyError("the topology is not started")
        return self.servers

    def _engine_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
        origins = f"http://127.0.0.1:{self.nginx_port},http://localhost:{self.nginx_port}"
        env.update({
            "DJANGO_SETTINGS_MODULE": "engine_site.settings",
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": self._servers.database_url,
            "REDIS_URL": self._servers.redis_url,
            # What production runs (docker-compose.yml): plain HTTP behind nginx on loopback.
            "PRODUCTION": "1",
            "SECRET_KEY": self.secret_key,
            "SECURE_SSL_REDIRECT": "0",
            "SECURE_COOKIES": "0",
            "ALLOWED_HOSTS": "localhost,127.0.0.1",
            "CSRF_TRUSTED_ORIGINS": origins,
            "LOG_FORMAT": "json",
            "VAR_DIR": str(self.workdir / "var"),
            "JOBS_API_RATE_LIMIT": HIGH_RATE_LIMIT,
        })
        env.update(self.extra_env)
        return env

    def nginx_config(self) -> str:
        """deploy/nginx.conf with this topology's upstreams and port, inside a self-contained main config."""
        template = self.nginx_template.read_text()
        upstream = re.search(r"upstream\s+engine_web\s*\{(?P<body>[^}]*)\}", template)
        if upstream is None:
            raise TopologyError(f"{self.nginx_template}: no `upstream engine_web {{…}}` block to fill in")
        body = upstream.group("body")
        first = re.search(r"^\s*server\s+\S+(?P<params>[^;]*);", body, re.MULTILINE)
        params = first.group("params") if first else ""
        others = [line for line in body.splitlines() if line.strip() and not line.strip().startswith("server ")]
        servers = [f"    server 127.0.0.1:{web.port}{params};" for web in self.webs]
        block = "upstream engine_web {\n" + "\n".join([*servers, *others]) + "\n}"
        site = template[:upstream.start()] + block + template[upstream.end():]
        site, n = re.subn(r"listen\s+\d+\s*;", f"listen 127.0.0.1:{self.nginx_port};", site)
        if n != 1:
            raise TopologyError(f"{self.nginx_template}: expected one `listen PORT;` line, found {n}")
        d = self.nginx_dir
        user = "user root;\n" if os.geteuid() == 0 else ""
        indented = "\n".join(f"    {line}" if line else "" for line in site.splitlines())
        return (
            f"# Generated by deploy/topology.py from {self.nginx_template}.\n{user}"
            f"worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n"
            "events { worker_connections 1024; }\n"
            "http {\n"
            f"    access_log {d}/access.log;\n"
            f"    client_body_temp_path {d}/temp/client_body;\n"
            f"    proxy_temp_path {d}/temp/proxy;\n"
            f"    fastcgi_temp_path {d}/temp/fastcgi;\n"
            f"    uwsgi_temp_path {d}/temp/uwsgi;\n"
            f"    scgi_temp_path {d}/temp/scgi;\n"
            f"{indented}\n"
            "}\n"
        )

    def _start_nginx(self) -> None:
        self.nginx_dir = self.workdir / "nginx"
        (self.nginx_dir / "temp").mkdir(parents=True)
        conf = self.nginx_dir / "nginx.conf"
        conf.write_text(self.nginx_config())
        test = subprocess.run(  # noqa: S603
            [NGINX, "-t", "-p", str(self.nginx_dir), "-c", str(conf)], capture_output=True, text=True, check=False,
        )
        if test.returncode != 0:
            raise TopologyError(f"nginx rejected {conf}:\n{test.stderr}")
        log = self.logs / "nginx.log"
        self.nginx = subprocess.Popen(  # noqa: S603
            [NGINX, "-p", str(self.nginx_dir), "-c", str(conf), "-g", "daemon off;"],
            stdout=log.open("ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        wait_port(self.nginx_port, 30, self.nginx, "nginx", self.nginx_dir / "error.log")
        self.wait(lambda: self._status(self.nginx_port, "/api/health") == 200, 30, "nginx to reach a web instance")

    # -- helpers ---------------------------------------------------------------------------------------

    def manage(self, *args: str, env: Mapping[str, str] | None = None,
               timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``manage.py <args>`` under the topology's environment; a failure raises TopologyError."""
        done = subprocess.run(  # noqa: S603
            [sys.executable, str(ROOT / "manage.py"), *args], env={**self.env, **(env or {})}, cwd=ROOT,
            capture_output=True, text=True, timeout=timeout, check=False,
        )
        if done.returncode != 0:
            raise TopologyError(f"manage.py {' '.join(args)} failed ({done.returncode}):\n"
                                f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
        return done

    @staticmethod
    def wait(predicate: Any, timeout: float, what: str, interval: float = 0.2) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = predicate()
            except (OSError, http.client.HTTPException):
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                raise TopologyError(f"timed out after {timeout:.0f}s waiting for {what}")
            time.sleep(interval)

    def _status(self, port: int, path: str) -> int:
        return http_request(port, "GET", path, timeout=5)[0]

    def wait_web(self, web: Process, timeout: float = 120) -> None:
        def up() -> bool:
            if not web.alive:
                raise TopologyError(f"{web.name} exited with {web.popen and web.popen.returncode}:\n{tail(web.log)}")
            return self._status(web.port or 0, "/api/health") == 200

        self.wait(up, timeout, f"{web.name} to answer /api/health")

    def wait_workers(self, instances: set[str], timeout: float = 120) -> None:
        """Wait until /api/workers lists a live process of each of ``instances``."""
        def listed() -> bool:
            for worker in self.workers:
                if worker.name in instances and not worker.alive:
                    raise TopologyError(f"{worker.name} exited:\n{tail(worker.log)}")
            return instances <= self.worker_instances()

        self.wait(listed, timeout, f"/api/workers to list {', '.join(sorted(instances))}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.nginx_port}"

    @property
    def auth(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key}

    @property
    def database_url(self) -> str:
        return self._servers.database_url

    @property
    def redis_url(self) -> str:
        return self._servers.redis_url

    def api(self, method: str, path: str, body: Any = None, *, headers: Mapping[str, str] | None = None,
            port: int | None = None, timeout: float = 30) -> tuple[int, dict[str, str], Any]:
        """A request with the topology's API key, through nginx unless ``port`` names a web instance.

        Returns (status, headers, decoded JSON or the raw bytes)."""
        status, hdrs, raw = http_request(port or self.nginx_port, method, path, body,
                                         {**self.auth, **(headers or {})}, timeout=timeout)
        try:
            decoded: Any = json.loads(raw) if raw else None
        except ValueError:
            decoded = raw
        return status, hdrs, decoded

    def worker_instances(self) -> set[str]:
        status, _, body = self.api("GET", "/api/workers", timeout=10)
        if status != 200:
            return set()
        return {p["instance"] for p in body}

    def connect(self) -> Any:
        """A fresh MySQLdb connection to the topology's database (autocommit)."""
        import MySQLdb

        parts = urlsplit(self.database_url)
        conn = MySQLdb.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 3306,
                               user=unquote(parts.username or ""), password=unquote(parts.password or ""),
                               database=parts.path.lstrip("/"), charset="utf8mb4", connect_timeout=5)
        conn.autocommit(True)
        return conn

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        conn = self.connect()
        try:
            cur = conn.cursor()
            cur.execute(sql, params)
            return list(cur.fetchall())
        finally:
            conn.close()

    # -- chaos -----------------------------------------------------------------------------------------

    def web(self, i: int) -> Process:
        return self.webs[i - 1]

    def worker(self, i: int) -> Process:
        return self.workers[i - 1]

    def kill_worker(self, i: int) -> float:
        """kill -9 worker supervisor ``i`` and its children; returns when (time.time()) it happened."""
        at = time.time()
        self.worker(i).kill()
        return at

    def restart_worker(self, i: int, wait: bool = True) -> None:
        worker = self.worker(i)
        worker.stop(timeout=30)
        worker.start()
        if wait:
            self.wait_workers({worker.name})

    def kill_web(self, i: int) -> float:
        at = time.time()
        self.web(i).kill()
        return at

    def restart_web(self, i: int, wait: bool = True) -> None:
        web = self.web(i)
        web.stop(timeout=15)
        web.start()
        if wait:
            self.wait_web(web)

    def _server(self, name: str) -> subprocess.Popen[bytes]:
        return self._servers.processes[name]

    def _relaunch(self, name: str) -> None:
        """Start server ``name`` again with the command line it ran with (same datadir and port)."""
        old = self._server(name)
        if old.poll() is None:
            raise TopologyError(f"{name} is still running")
        new = subprocess.Popen(  # noqa: S603 — the argv bench.servers built
            old.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        # bench.servers stops whatever this dict holds when the topology stops.
        self._servers.processes[name] = new
        url = self.database_url if name == "mariadb" else self.redis_url
        wait_port(urlsplit(url).port or 0, 120, new, name, self.workdir / "missing.log")

    def stop_mariadb(self) -> None:
        bench_servers.stop(self._server("mariadb"), timeout=120)

    def start_mariadb(self) -> None:
        self._relaunch("mariadb")
        # Listening is not accepting logins yet: wait for a query to succeed.
        self.wait(lambda: self.query("SELECT 1") == [(1,)], 60, "MariaDB to accept queries")

    def restart_mariadb(self) -> tuple[float, float]:
        """Stop MariaDB (SIGTERM, wait) and start it again on the same datadir and port; (down, up) times."""
        down = time.time()
        self.stop_mariadb()
        self.start_mariadb()
        return down, time.time()

    def stop_redis(self) -> None:
        bench_servers.stop(self._server("redis"), timeout=30)

    def start_redis(self) -> None:
        self._relaunch("redis")

    # -- the map ---------------------------------------------------------------------------------------

    def describe(self) -> str:
        lines = [
            f"nginx          {self.url}/  (console {self.url}/, API {self.url}/api/, docs {self.url}/api/docs/,"
            f" metrics {self.url}/metrics)",
        ]
        for web in self.webs:
            lines.append(f"{web.name:<14} http://127.0.0.1:{web.port}/  pid {web.pid}  log {web.log}")
        for worker in self.workers:
            lines.append(f"{worker.name:<14} runworkers --processes {self.processes} --threads {self.threads}"
                         f"  pid {worker.pid} (process group)  log {worker.log}")
        lines += [
            f"MariaDB        {self.database_url}  pid {self.servers.pid('mariadb') if self.servers else '?'}",
            f"Redis          {self.redis_url}  pid {self.servers.pid('redis') if self.servers else '?'}",
            f"tenant         {self.tenant}  operator API key {self.api_key}",
            f"try            curl -H 'X-API-Key: {self.api_key}' -d '{{\"type\": \"noop\"}}'"
            f" -H 'Content-Type: application/json' {self.url}/api/tasks",
            f"nginx config   {self.nginx_dir / 'nginx.conf'}  (logs {self.nginx_dir})",
            f"environment    DATABASE_URL, REDIS_URL, PRODUCTION=1, LOG_FORMAT=json, VAR_DIR={self.env.get('VAR_DIR')}"
            + "".join(f", {k}={v}" for k, v in sorted(self.extra_env.items())),
            f"work dir       {self.workdir}{' (kept)' if self.keep_workdir else ' (removed on stop)'}",
        ]
        return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--webs", type=int, default=3, help="web instances (default 3)")
    parser.add_argument("--workers", type=int, default=3, help="worker supervisors (default 3)")
    parser.add_argument("--processes", type=int, default=1, help="worker processes per supervisor (default 1)")
    parser.add_argument("--threads", type=int, default=4, help="executor threads per process (default 4)")
    parser.add_argument("--port", type=int, default=None,
                        help=f"nginx's port (default {DEFAULT_NGINX_PORT} if free, else any free port)")
    parser.add_argument("--fast", action="store_true",
                        help="short engine timings (4 s leases, 1 s heartbeats) as the tests use")
    parser.add_argument("--tenant", default="demo", help="the tenant the printed API key belongs to")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, data) on exit")


def from_options(options: Mapping[str, Any], echo: bool = True) -> Topology:
    port = options.get("port")
    if port is None:
        port = DEFAULT_NGINX_PORT if port_is_free(DEFAULT_NGINX_PORT) else None
    return Topology(
        webs=options["webs"], workers=options["workers"], processes=options["processes"],
        threads=options["threads"], nginx_port=port, timings=FAST_TIMINGS if options.get("fast") else None,
        tenant=options["tenant"], keep_workdir=options.get("keep", False), echo=echo,
    )


def serve(topology: Topology, out: Any = None) -> None:
    """Start ``topology``, print where everything is, wait for Ctrl-C/SIGTERM, stop everything cleanly."""
    write = out or (lambda text: print(text, flush=True))  # noqa: T201

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        topology.start()
        write(topology.describe())
        write("Ctrl-C (or SIGTERM) stops everything.")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        write("topology: stopping…")
    finally:
        # A second Ctrl-C must not cut the clean-up short.
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        try:
            topology.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    write("topology: stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add_arguments(parser)
    options = vars(parser.parse_args(argv))
    try:
        serve(from_options(options))
    except TopologyError as exc:
        print(f"topology: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
