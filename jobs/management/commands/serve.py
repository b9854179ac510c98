"""``manage.py serve``: the production web tier (API, console, admin, event streams) on one port.

It becomes a gunicorn master (``exec``, so signals reach it directly) whose workers run
daphne (``engine_site.webworker``): ``--workers`` processes share the port, each running
Django's views on ``--threads`` persistent threads (one database connection each) and the
event streams as async consumers. Signals, as gunicorn defines them: ``HUP`` reloads
gracefully (new workers, then the old ones drain), ``TERM`` stops gracefully (in-flight
requests answer within ``--graceful-timeout``), ``INT``/``QUIT`` stop at once, ``TTIN``/``TTOU``
add or remove a worker. docs/OPERATIONS.md, "The web tier", says how it was chosen.
"""

import os
import shutil
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import OperationalError

from jobs.cli import port_number, positive_int

WORKER_CLASS = "engine_site.webworker.DaphneWorker"


def default_workers() -> int:
    """One web process per core: each is an event loop plus a thread pool, so more buys little."""
    return max(1, os.cpu_count() or 1)


def gunicorn_argv(*, host: str, port: int, workers: int, graceful_timeout: int, timeout: int) -> list[str]:
    """The gunicorn command line ``serve`` becomes."""
    bind = f"{host}:{port}"
    return [
        sys.executable, "-m", "gunicorn", "engine_site.asgi:application",
        "--bind", bind, "--workers", str(workers), "--worker-class", WORKER_CLASS,
        "--graceful-timeout", str(graceful_timeout), "--timeout", str(timeout),
        "--chdir", str(settings.BASE_DIR), "--name", "engine-web", "--log-level", "info",
        "--error-logfile", "-", "--no-control-socket", "--config", "python:engine_site.webconf",
    ]


class Command(BaseCommand):
    help = "Serve the API, console, admin and event streams for production (gunicorn master, daphne workers)."
    # Checked in handle() instead: a web tier started while the database is down must come up and
    # answer 503 on /api/health/ready until it is back, not die in a check that connects to it.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=settings.WEB_HOST, help="IPv4 address (default $HOST or 127.0.0.1)")
        parser.add_argument("--port", type=port_number, default=settings.WEB_PORT, help="default $PORT or 8000")
        parser.add_argument("--workers", type=positive_int, default=None,
                            help="web processes sharing the port (default: one per core)")
        parser.add_argument("--threads", type=positive_int, default=None,
                            help="threads per process for Django's views, one database connection each "
                                 "(default JOBS['WEB_THREADS'], 8)")
        parser.add_argument("--graceful-timeout", type=positive_int, default=30,
                            help="seconds in-flight requests get to answer on TERM or HUP")
        parser.add_argument("--timeout", type=positive_int, default=30,
                            help="seconds a silent worker lives before the master replaces it")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            self.check(display_num_errors=False)
        except OperationalError as exc:
            self.stderr.write(f"serve: the database is unreachable ({exc}); the checks that need it are skipped, "
                              "and /api/health/ready answers 503 until it is back")
        if ":" in options["host"]:
            raise CommandError(f"--host {options['host']}: serve listens on IPv4 addresses only "
                               "(0.0.0.0 for every interface; an IPv6 front such as nginx can proxy to it)")
        workers = options["workers"] or default_workers()
        argv = gunicorn_argv(host=options["host"], port=options["port"], workers=workers,
                             graceful_timeout=options["graceful_timeout"], timeout=options["timeout"])
        env = dict(os.environ)
        # Where the master marks a reload and each worker that it listens (engine_site.webworker).
        state = Path(settings.VAR_DIR) / f"web-{options['port']}"
        shutil.rmtree(state, ignore_errors=True)
        state.mkdir(parents=True)
        env["ENGINE_WEB_STATE"] = str(state)
        if options["threads"]:
            env["JOBS_WEB_THREADS"] = str(options["threads"])
        env.setdefault("DJANGO_SETTINGS_MODULE", "engine_site.settings")
        self.stdout.write(f"serve: http://{options['host']}:{options['port']}/ with {workers} web process(es); "
                          "HUP reloads, TERM stops gracefully")
        self.stdout.flush()
        os.execve(sys.executable, argv, env)  # noqa: S606 — gunicorn from this interpreter, validated options
