"""What every scenario uses: subprocesses with the shared environment, a clean slate, CPU accounting,
and watching a count reach its total.

Runs inside the benchmark's own process (``bench.settings``, Django set up), which
``python -m bench`` starts once the servers are up.
"""

import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from deploy import procs
from jobs.services.analytics import percentile

from .memory import MemoryWatch
from .options import ENV_OPTIONS, Options
from .progress import Progress, Stream

ROOT = procs.ROOT
ENGINE_SETTINGS = "engine_site.settings"
BENCH_SETTINGS = "bench.settings"


class BenchError(RuntimeError):
    """A scenario could not produce its figures (a process failed, a count was wrong, a timeout)."""


def latency_summary(ms: list[float]) -> dict[str, Any]:
    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 2)

    return {"n": len(ms), "p50_ms": r(percentile(ms, 0.50)), "p95_ms": r(percentile(ms, 0.95)),
            "p99_ms": r(percentile(ms, 0.99)), "max_ms": r(max(ms) if ms else None)}


@dataclass
class CpuSnapshot:
    wall: float
    children: float
    own: float
    servers: dict[str, float]
    machine: float  # busy CPU seconds of the whole machine


class Bench:
    """The benchmark process: starts the systems under test and resets the shared servers."""

    def __init__(self, options: Options, *, workdir: Path, server_pids: dict[str, int],
                 stdout: Stream | None = None, stderr: Stream | None = None) -> None:
        self.options = options
        self.workdir = workdir
        self.server_pids = server_pids
        self.stdout: Stream = stdout or sys.stdout
        self.stderr: Stream = stderr or sys.stderr
        self.procs: list[subprocess.Popen[bytes]] = []
        self.log_count = 0
        self.logs: dict[int, Path] = {}
        self._redis: Any = None
        #: Variables every process started from now on gets too (``environment``).
        self.extra_env: dict[str, str] = {}

    # -- processes -------------------------------------------------------------------------

    def env(self, settings: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k not in {ENV_OPTIONS, "DJANGO_SETTINGS_MODULE", "SQLITE_PATH", "TEST_DB_SOCKET", "TEST_DB_NAME"}}
        env.update({
            "DJANGO_SETTINGS_MODULE": settings,
            "PYTHONPATH": str(ROOT),
            "VAR_DIR": str(self.workdir / "var"),
            "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
            "DEBUG": "0",
            **self.extra_env,
        })
        return env

    @contextmanager
    def environment(self, **values: str) -> Iterator[None]:
        """Processes started in the block get ``values`` too (demo mode for the seed's protocol)."""
        saved = dict(self.extra_env)
        self.extra_env.update(values)
        try:
            yield
        finally:
            self.extra_env = saved

    def spawn(self, name: str, argv: list[str], *, settings: str = ENGINE_SETTINGS,
              env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        self.log_count += 1
        log = self.workdir / f"{self.log_count:02d}-{name}.log"
        proc = procs.spawn(argv, env={**self.env(settings), **(env or {})}, log=log)
        self.logs[proc.pid] = log
        self.procs.append(proc)
        return proc

    def manage(self, name: str, *args: str, settings: str = ENGINE_SETTINGS,
               env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        return self.spawn(name, [sys.executable, str(ROOT / "manage.py"), *args], settings=settings, env=env)

    def log_tail(self, proc: subprocess.Popen[bytes], lines: int = 20) -> str:
        return procs.tail(self.logs.get(proc.pid), lines)

    def stop(self, proc: subprocess.Popen[bytes], *, timeout: float = 60, sig: int = signal.SIGTERM) -> int:
        """Signal a process we started and its group (every worker at once), and wait for it."""
        return procs.stop(proc, timeout=timeout, sig=sig, group=True)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                self.stop(proc, timeout=20)
        self.procs = [p for p in self.procs if p.poll() is None]

    def wait_exit(self, proc: subprocess.Popen[bytes], timeout: float, what: str) -> int:
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(proc)
            raise BenchError(f"{what} did not exit within {timeout:.0f}s:\n{self.log_tail(proc)}") from None

    # -- shared state ----------------------------------------------------------------------

    def redis(self) -> Any:
        if self._redis is None:
            import redis
            from django.conf import settings

            if not settings.REDIS_URL:
                raise BenchError("the benchmark needs REDIS_URL")
            self._redis = redis.Redis.from_url(settings.REDIS_URL)
        return self._redis

    def reset(self) -> None:
        """Empty every table of the systems under test, and the Redis database."""
        from django.db import connection

        from tenants import keys

        prefixes = ("jobs_", "tenants_", "django_tasks_db_", "auth_user", "django_session")
        with connection.cursor() as cur:
            tables = [t for t in connection.introspection.table_names(cur) if t.startswith(prefixes)]
            cur.execute("SET FOREIGN_KEY_CHECKS = 0")
            try:
                for table in tables:
                    cur.execute(f"TRUNCATE TABLE {connection.ops.quote_name(table)}")
            finally:
                cur.execute("SET FOREIGN_KEY_CHECKS = 1")
        self.redis().flushdb()
        keys.forget()

    def tenant(self, slug: str, *, weight: int = 1) -> Any:
        from tenants.models import Tenant

        # No API rate limit gets in the way of a benchmark's own tenants.
        return Tenant.objects.create(name=slug.title(), slug=slug, weight=weight, rate_limit=2_000_000_000)

    # -- measuring -------------------------------------------------------------------------

    def db_status(self) -> dict[str, int]:
        """MariaDB's global counters: statements, commits, index and row reads."""
        from django.db import connection

        names = ("Questions", "Com_commit", "Com_rollback", "Com_select", "Com_insert", "Com_update",
                 "Com_set_option", "Handler_read_key",
                 "Handler_read_next", "Handler_read_prev", "Handler_read_rnd_next", "Handler_read_first")
        with connection.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS WHERE Variable_name IN (" + ", ".join(["%s"] * len(names)) + ")",
                        list(names))
            return {k: int(v) for k, v in cur.fetchall()}

    @staticmethod
    def db_per_task(before: dict[str, int], after: dict[str, int], n: int) -> dict[str, float]:
        """Statements, commits and rows read per task between two ``db_status`` readings."""
        d = {k: after[k] - before.get(k, 0) for k in after}
        reads = sum(v for k, v in d.items() if k.startswith("Handler_read"))
        return {
            "statements_per_task": round(d["Questions"] / n, 2),
            "commits_per_task": round(d["Com_commit"] / n, 3),
            "index_reads_per_task": round(reads / n, 1),
        }

    def cpu(self) -> CpuSnapshot:
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        own = resource.getrusage(resource.RUSAGE_SELF)
        servers: dict[str, float] = {}
        for name, pid in self.server_pids.items():
            with suppress(psutil.Error):
                t = psutil.Process(pid).cpu_times()
                servers[name] = t.user + t.system
        t = psutil.cpu_times()
        busy = sum(t) - t.idle - getattr(t, "iowait", 0.0)
        return CpuSnapshot(time.monotonic(), kids.ru_utime + kids.ru_stime, own.ru_utime + own.ru_stime, servers,
                           busy)

    @staticmethod
    def cpu_used(before: CpuSnapshot, after: CpuSnapshot, *, label: str = "system") -> dict[str, Any]:
        """CPU seconds each party used between two snapshots (children must have been waited for)."""
        wall = after.wall - before.wall
        used = {label: after.children - before.children, "bench": after.own - before.own}
        for name, t in after.servers.items():
            if name in before.servers:
                used[name] = t - before.servers[name]
        total = sum(used.values())
        cores = os.cpu_count() or 1
        # Whatever else ran on the machine meanwhile (other test runs, say): busy time not ours.
        others = max(0.0, (after.machine - before.machine) - total)
        return {
            "wall_s": round(wall, 3),
            "cpu_s": {k: round(v, 2) for k, v in used.items()},
            "cpu_share": {k: round(v / total, 3) if total else 0.0 for k, v in used.items()},
            "busy_cores": round(total / wall, 2) if wall else None,
            "cores": cores,
            "other_processes_cores": round(others / wall, 2) if wall else None,
        }

    def watch(self, label: str, total: int, count: Callable[[], int], procs: list[subprocess.Popen[bytes]],
              *, timeout: float, memory: MemoryWatch | None = None, solo: bool = False,
              poll: float = 0.05, must_live: bool = True) -> dict[str, float]:
        """Poll ``count()`` until it reaches ``total``; return when the first and the last were seen.

        The interval adapts: a tenth of the time the rest should take at the rate so far, between
        ``poll`` and 0.5 s, so the end is seen within ``poll`` while the polling itself stays a
        negligible load on the servers it counts on.
        """
        start = time.monotonic()
        first: float | None = None
        last_mem = 0.0
        done = 0
        with Progress(label, total, stream=self.stderr) as bar:
            while True:
                done = count()
                now = time.monotonic()
                bar.update(done)
                if done and first is None:
                    first = now
                if done >= total:
                    break
                if memory is not None and now - last_mem > 0.2:
                    memory.sample(procs, solo=solo)
                    last_mem = now
                if now - start > timeout:
                    raise BenchError(f"{label}: {done}/{total} after {timeout:.0f}s")
                if must_live and procs and all(p.poll() is not None for p in procs):
                    done = count()
                    if done >= total:
                        break
                    raise BenchError(f"{label}: processes exited with {done}/{total} done:\n"
                                     + self.log_tail(procs[0]))
                interval = poll
                if first is not None and done and now > first:
                    rate = done / (now - first)
                    interval = min(0.5, max(poll, 0.1 * (total - done) / rate))
                time.sleep(interval)
        end = time.monotonic()
        if memory is not None:
            memory.sample(procs, solo=solo)
        return {"start": start, "first": first or end, "end": end, "done": done}

    def say(self, text: str) -> None:
        self.stderr.write(text + "\n")
        self.stderr.flush()


@contextmanager
def running(bench: Bench, proc: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    """Stop ``proc`` when the block ends, however it ends."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            bench.stop(proc)
