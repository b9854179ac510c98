"""``Topology``: MariaDB, Redis, nginx, web instances and worker supervisors on 127.0.0.1 (see the package)."""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from .. import procs, servers
from . import nginx
from .client import http_request, poll
from .config import TopologyError, engine_env
from .faults import ServerFaults
from .instances import Process
from .map import describe

ROOT = procs.ROOT
NGINX_TEMPLATE = ROOT / "deploy" / "nginx.conf"


class Topology(ServerFaults):
    """MariaDB, Redis, nginx, ``webs`` web instances and ``workers`` worker supervisors on 127.0.0.1."""

    def __init__(self, *, webs: int = 3, workers: int = 3, processes: int = 1, threads: int = 4,
                 nginx_port: int | None = None, timings: Mapping[str, str] | None = None,
                 env: Mapping[str, str] | None = None, workdir: Path | str | None = None, tenant: str = "demo",
                 keep_workdir: bool = False, echo: bool = False, nginx_template: Path | str | None = None) -> None:
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
        self.servers: servers.Servers | None = None
        self.webs: list[Process] = []
        self.workers: list[Process] = []
        self.api_key = ""
        self.secret_key = secrets.token_urlsafe(50)
        #: Bearer token of each web instance's /metrics (nginx does not serve it).
        self.metrics_token = secrets.token_urlsafe(32)
        self.env: dict[str, str] = {}
        self._stack = contextlib.ExitStack()
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
        if not Path(nginx.NGINX).exists():
            raise TopologyError(f"{nginx.NGINX} is missing: install Debian's nginx (`make test` does)")
        self.workdir = Path(tempfile.mkdtemp(prefix="jobs-topology-", dir=self.base_dir))
        self.logs = self.workdir / "logs"
        self.logs.mkdir()
        self.say(f"topology: starting MariaDB and Redis under {self.workdir}")
        self.servers = self._stack.enter_context(servers.servers(workdir=self.workdir))
        self.nginx_port = self._pick_nginx_port()
        self.env = self._engine_env()
        self.say("topology: migrating")
        self.manage("migrate", "--noinput", timeout=600)
        self.manage("create_tenant", self.tenant, "--slug", self.tenant, "--if-missing")
        created = self.manage("create_api_key", self.tenant, "--operator", "--json", "--name", "topology")
        self.api_key = json.loads(created.stdout.strip().splitlines()[-1])["key"]
        manage = str(ROOT / "manage.py")
        for i in range(1, self.n_webs + 1):
            port = procs.free_port()
            self.webs.append(Process(
                name=f"web{i}", port=port, log=self.logs / f"web{i}.log", argv=procs.web_argv(port),
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
        if self.nginx is not None:
            procs.stop(self.nginx, timeout=15)
        for web in self.webs:
            web.stop(timeout=15)
        drain = float(self.env.get("JOBS_DRAIN_SECONDS", "30"))
        for worker in self.workers:
            worker.terminate()  # every supervisor drains at once, not one after the other
        for worker in self.workers:
            worker.stop(timeout=drain + 20)
        # servers.servers() stops the processes its Servers.processes names: restarted ones included.
        self._stack.close()
        self.started = False
        if self.workdir != Path() and not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # -- configuration ---------------------------------------------------------------------------------

    def _pick_nginx_port(self) -> int:
        if self.requested_port:
            if not procs.port_is_free(self.requested_port):
                raise TopologyError(f"port {self.requested_port} is taken")
            return self.requested_port
        return procs.free_port()

    @property
    def _servers(self) -> servers.Servers:
        if self.servers is None:
            raise TopologyError("the topology is not started")
        return self.servers

    def _engine_env(self) -> dict[str, str]:
        return engine_env(root=str(ROOT), database_url=self._servers.database_url, redis_url=self._servers.redis_url,
                          nginx_port=self.nginx_port, secret_key=self.secret_key, var_dir=str(self.workdir / "var"),
                          extra={"METRICS_TOKEN": self.metrics_token, **self.extra_env})

    def nginx_config(self) -> str:
        """deploy/nginx.conf with this topology's upstreams and port, inside a self-contained main config."""
        return nginx.config(self.nginx_template, upstream_ports=[web.port or 0 for web in self.webs],
                            port=self.nginx_port, prefix=self.nginx_dir)

    def _start_nginx(self) -> None:
        self.nginx_dir = self.workdir / "nginx"
        self.nginx = nginx.start(self.nginx_config(), prefix=self.nginx_dir, port=self.nginx_port,
                                 log=self.logs / "nginx.log")
        poll(lambda: self._status(self.nginx_port, "/api/health") == 200, 30, "nginx to reach a web instance")

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

    def _status(self, port: int, path: str) -> int:
        return http_request(port, "GET", path, timeout=5)[0]

    def wait_web(self, web: Process, timeout: float = 120) -> None:
        def up() -> bool:
            if not web.alive:
                raise TopologyError(f"{web.name} exited with {web.popen and web.popen.returncode}:\n"
                                    f"{procs.tail(web.log)}")
            return self._status(web.port or 0, "/api/health") == 200

        poll(up, timeout, f"{web.name} to answer /api/health")

    def wait_workers(self, instances: set[str], timeout: float = 120) -> None:
        """Wait until /api/workers lists a live process of each of ``instances``."""
        def listed() -> bool:
            for worker in self.workers:
                if worker.name in instances and not worker.alive:
                    raise TopologyError(f"{worker.name} exited:\n{procs.tail(worker.log)}")
            return instances <= self.worker_instances()

        poll(listed, timeout, f"/api/workers to list {', '.join(sorted(instances))}")

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
        status, _, body = self.api("GET", "/api/workers?all=true", timeout=10)
        if status != 200:
            return set()
        return {p["instance"] for p in body["processes"]}

    def connect(self) -> Any:
        """A fresh MySQLdb connection to the topology's database (autocommit)."""
        return servers.connect(self.database_url)

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        return servers.query(self.database_url, sql, params)

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

    #: Where everything is, one line per part (what ``python -m deploy.topology`` prints).
    describe = describe
