import logging
import os
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from jobs.cli import non_negative_float, positive_int, queue_list
from jobs.worker.options import WorkerOptions
from jobs.worker.supervisor import Supervisor


class Command(BaseCommand):
    help = "Run worker processes that claim and execute tasks (until SIGTERM/SIGINT, or drained with --burst)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--processes", type=positive_int, default=os.cpu_count() or 1,
                            help="worker processes (default: one per CPU)")
        parser.add_argument("--threads", type=positive_int, default=8, help="executor threads per process")
        parser.add_argument("--queues", type=queue_list, default=[], help="comma-separated queues (default: all)")
        parser.add_argument("--burst", action="store_true", help="run everything due, then exit 0")
        parser.add_argument("--drain-timeout", type=non_negative_float, default=None,
                            help="seconds running tasks get to finish on shutdown (default: JOBS['DRAIN_SECONDS'])")

    def handle(self, *args: Any, **options: Any) -> None:
        logging.getLogger("jobs").setLevel(logging.INFO)
        supervisor = Supervisor(
            processes=options["processes"],
            options=WorkerOptions(
                threads=options["threads"],
                queues=tuple(options["queues"]),
                burst=options["burst"],
                drain_seconds=options["drain_timeout"],
            ),
        )
        supervisor.run()
