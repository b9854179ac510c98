"""``python -m bench``: start the servers, then run the scenarios in a process of their own.

The first process only starts MariaDB and Redis (unless ``DATABASE_URL`` /
``REDIS_URL`` name them) and then runs ``python -m bench`` again with
``DJANGO_SETTINGS_MODULE=bench.settings`` and the servers' URLs in its environment:
that process, and every process it starts, talks to the same two servers.
"""

import json
import logging
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from deploy.procs import ProcessError
from deploy.servers import ServerError, servers

from .options import ENV_OPTIONS, ENV_PIDS, ENV_WORKDIR, Options
from .progress import Stream
from .runtime import BENCH_SETTINGS, ROOT, Bench, BenchError


def default_results_dir() -> Path:
    return Path(os.environ.get("VAR_DIR", ROOT / "var")) / "bench"


def _exit_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so every server and process this run started is stopped."""

    def handle(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handle)


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


def run(options: Options, *, stdout: Stream, stderr: Stream) -> int:
    """The outer process: start the servers, run the benchmark process against them, relay its output."""
    _exit_on_sigterm()
    database_url = os.environ.get("DATABASE_URL", "").strip() or None
    redis_url = os.environ.get("REDIS_URL", "").strip() or None
    workdir = Path(tempfile.mkdtemp(prefix="jobs-bench-run-"))
    try:
        if database_url:
            check_database_url(database_url)
        stderr.write("bench: starting "
                     + (", ".join(n for n, given in (("MariaDB", database_url), ("Redis", redis_url)) if not given)
                        or "nothing (DATABASE_URL and REDIS_URL given)") + "\n")
        with servers(database_url=database_url, redis_url=redis_url, workdir=workdir) as s:
            env = {k: v for k, v in os.environ.items() if not k.startswith("JOBS_TEST")}
            env.update({
                "DJANGO_SETTINGS_MODULE": BENCH_SETTINGS,
                "DATABASE_URL": s.database_url,
                "REDIS_URL": s.redis_url,
                "PYTHONPATH": str(ROOT),
                ENV_OPTIONS: json.dumps(options.to_json()),
                ENV_WORKDIR: str(workdir),
                ENV_PIDS: json.dumps({name: p.pid for name, p in s.processes.items()}),
            })
            proc = subprocess.Popen(
                [sys.executable, "-m", "bench"], cwd=ROOT, env=env,
                stdout=subprocess.PIPE, text=True, bufsize=1,
            )
            assert proc.stdout is not None  # noqa: S101 — for the type checker
            try:
                for line in proc.stdout:
                    stdout.write(line)
                    stdout.flush()
                return proc.wait()
            except BaseException:
                proc.terminate()
                proc.wait(timeout=120)
                raise
    except ProcessError as exc:
        stderr.write(f"bench: {exc}\n")
        return 2
    finally:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)


def machine(bench: Bench) -> dict[str, Any]:
    import django
    import psutil
    from django.db import connection

    def version(dist: str) -> str | None:
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as v

        try:
            return v(dist)
        except PackageNotFoundError:
            return None

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    os_name = platform.platform()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    with connection.cursor() as cur:
        cur.execute("SELECT VERSION()")
        db_version = cur.fetchone()[0]
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": os_name,
        "python": platform.python_version(),
        "mariadb": db_version,
        "redis": bench.redis().info("server").get("redis_version"),
        "django": django.get_version(),
        "celery": version("celery"),
        "django_tasks_db": version("django-tasks-db"),
        "servers_started_by_bench": sorted(bench.server_pids),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }


def run_scenarios(*, stdout: Stream, stderr: Stream) -> int:
    """The benchmark process: migrate, run each scenario, print, write JSON (and SVG)."""
    from django.core.management import call_command

    from . import charts, report
    from .scenarios import runner

    _exit_on_sigterm()
    for noisy in ("httpx", "httpcore", "celery", "kombu"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    options = Options(**json.loads(os.environ[ENV_OPTIONS]))
    workdir = Path(os.environ.get(ENV_WORKDIR) or tempfile.mkdtemp(prefix="jobs-bench-run-"))
    bench = Bench(options, workdir=workdir, server_pids=json.loads(os.environ.get(ENV_PIDS) or "{}"),
                  stdout=stdout, stderr=stderr)
    started = time.monotonic()
    stderr.write("bench: migrating\n")
    call_command("migrate", interactive=False, verbosity=0)
    results: dict[str, Any] = {"machine": machine(bench), "options": options.to_json(), "scenarios": {}}
    failed = []
    try:
        for name in options.scenarios:
            stderr.write(f"bench: scenario {name}\n")
            t0 = time.monotonic()
            try:
                bench.reset()
                results["scenarios"][name] = runner(name)(bench)
            except BenchError as exc:
                failed.append(name)
                results["scenarios"][name] = {"error": str(exc)}
                stderr.write(f"bench: {name} failed: {exc}\n")
            except Exception as exc:  # noqa: BLE001 — one scenario's crash must not lose the others' figures
                failed.append(name)
                results["scenarios"][name] = {"error": f"{type(exc).__name__}: {exc}"}
                stderr.write(f"bench: {name} crashed:\n{traceback.format_exc()}")
            finally:
                bench.stop_all()
            results["scenarios"][name]["elapsed_s"] = round(time.monotonic() - t0, 1)
    finally:
        bench.stop_all()
    results["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    results["total_s"] = round(time.monotonic() - started, 1)
    results["targets"] = report.targets(results)
    stdout.write(report.table(results))
    stdout.flush()
    if options.json:
        paths = report.write_json(results, Path(options.json))
    else:
        stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
        paths = report.write_json(results, default_results_dir() / f"results-{stamp}.json", latest=True)
    for path in paths:
        stderr.write(f"bench: wrote {path}\n")
    if options.svg:
        svg_dir = Path(options.svg_dir) if options.svg_dir else ROOT / "docs" / "bench"
        for path in charts.write_svgs(results, svg_dir):
            stderr.write(f"bench: wrote {path}\n")
    if failed:
        stderr.write(f"bench: failed scenarios: {', '.join(failed)}\n")
        return 1
    return 0
