import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.checks import Tags
from django.core.checks.registry import registry
from django.core.management.base import BaseCommand, CommandParser
from django.db import OperationalError, connections

from jobs.cli import non_negative_float, positive_int, queue_list
from jobs.worker.options import WorkerOptions
from jobs.worker.startup import StartTimes
from jobs.worker.supervisor import Supervisor

logger = logging.getLogger("jobs.worker")

#: Checks of what a worker process never serves or runs: the URL configuration (checking it
#: imports every view, DRF and drf-spectacular: ≈ 0.2 s of the start-up), the admin, templates,
#: static files, and the migration commands. The web tier (``serve``) and ``manage.py check`` run them.
WEB_TIER_CHECKS = frozenset({Tags.urls, Tags.admin, Tags.templates, Tags.staticfiles, Tags.commands})


class Command(BaseCommand):
    help = "Run worker processes that claim and execute tasks (until SIGTERM/SIGINT, or drained with --burst)."
    # The checks run in ``handle``, once the database answers: some need a connection, and a
    # worker (re)started while the database restarts must wait for it, not exit.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--processes", type=positive_int, default=os.cpu_count() or 1,
                            help="worker processes (default: one per CPU)")
        parser.add_argument("--threads", type=positive_int, default=8, help="executor threads per process")
        parser.add_argument("--queues", type=queue_list, default=[], help="comma-separated queues (default: all)")
        parser.add_argument("--burst", action="store_true", help="run everything due, then exit 0")
        parser.add_argument("--drain-timeout", type=non_negative_float, default=None,
                            help="seconds running tasks get to finish on shutdown (default: JOBS['DRAIN_SECONDS'])")

    def handle(self, *args: Any, **options: Any) -> None:
        times = StartTimes.now()
        logging.getLogger("jobs").setLevel(logging.INFO)
        self.check_when_reachable()
        supervisor = Supervisor(
            processes=options["processes"],
            options=WorkerOptions(
                threads=options["threads"],
                queues=tuple(options["queues"]),
                burst=options["burst"],
                drain_seconds=options["drain_timeout"],
            ),
            times=times,
        )
        supervisor.run()

    def check_when_reachable(self, *, max_delay: float = 10.0) -> None:
        """Run the worker's system checks, waiting (with back-off) while the database cannot be reached."""
        delay = 0.5
        while True:
            try:
                with worker_checks_only():
                    self.check(display_num_errors=False)
                return
            except OperationalError as exc:
                logger.warning("runworkers: the database is unreachable (%s); trying again in %.1f s", exc, delay)
                connections.close_all()
                time.sleep(delay)
                delay = min(max_delay, delay * 2)


@contextmanager
def worker_checks_only() -> Iterator[None]:
    """Leave the web tier's checks out of the registry for the block (the supervisor runs no other thread yet)."""
    every = registry.registered_checks
    registry.registered_checks = {check for check in every if WEB_TIER_CHECKS.isdisjoint(check.tags)}
    try:
        yield
    finally:
        registry.registered_checks = every
