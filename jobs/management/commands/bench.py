"""``manage.py bench [SCENARIO…]``: the benchmark (the work is in the ``bench`` package)."""

import argparse
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs.cli import positive_int

SCENARIOS = ("drain", "enqueue", "latency", "scaling", "fairness", "bigtable", "memory")


def positive_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than zero (got {raw})")
    return value


class Command(BaseCommand):
    help = (
        "Benchmark the engine (and django-tasks-db and Celery on the same servers): starts MariaDB and Redis "
        "unless DATABASE_URL / REDIS_URL are set, prints a table, writes JSON. Scenarios: " + ", ".join(SCENARIOS)
    )
    # The outer process only starts servers; the benchmark process it runs migrates and checks.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("scenarios", nargs="*", metavar="SCENARIO", help=f"any of {', '.join(SCENARIOS)} "
                            "(default: all)")
        parser.add_argument("--quick", action="store_true",
                            help="the CI smoke sizes: a few hundred tasks, a 2,000-row big table")
        parser.add_argument("--tasks", type=positive_int, help="tasks per drain (default 20,000)")
        parser.add_argument("--processes", type=positive_int, help="worker processes (default 2)")
        parser.add_argument("--threads", type=positive_int, help="executor threads per process (default 8)")
        parser.add_argument("--peers", action=argparse.BooleanOptionalAction, default=True,
                            help="also drain with django-tasks-db and Celery (default: yes)")
        parser.add_argument("--clients", type=positive_int, help="concurrent HTTP clients (default 16)")
        parser.add_argument("--requests", type=positive_int, help="single POST /api/tasks requests (default 4,000)")
        parser.add_argument("--batches", type=positive_int, help="POST /api/tasks/batch requests (default 40)")
        parser.add_argument("--rate", type=positive_float, help="pickup-latency enqueue rate, tasks/s (default 50)")
        parser.add_argument("--rows", type=positive_int, help="finished rows of the big table (default 1,000,000)")
        parser.add_argument("--samples", type=positive_int, help="requests per big-table endpoint (default 50)")
        parser.add_argument("--json", metavar="PATH",
                            help="write the results here (default: var/bench/results-<time>.json and latest.json)")
        parser.add_argument("--svg", action="store_true", help="draw the charts to docs/bench/*.svg")
        parser.add_argument("--svg-dir", metavar="DIR", help="where --svg writes (default docs/bench)")

    def handle(self, *args: Any, **options: Any) -> None:
        from bench.main import run
        from bench.runtime import Options

        unknown = [s for s in options["scenarios"] if s not in SCENARIOS]
        if unknown:
            raise CommandError(f"unknown scenario {unknown[0]!r}; choose from {', '.join(SCENARIOS)}")
        opts = Options.sized(
            quick=options["quick"],
            scenarios=list(dict.fromkeys(options["scenarios"])) or list(SCENARIOS),
            tasks=options["tasks"], processes=options["processes"], threads=options["threads"],
            peers=options["peers"], clients=options["clients"], requests=options["requests"],
            batches=options["batches"], rate=options["rate"], rows=options["rows"], samples=options["samples"],
            json=options["json"], svg=options["svg"] or bool(options["svg_dir"]), svg_dir=options["svg_dir"],
        )
        code = run(opts, stdout=self.stdout, stderr=sys.stderr)
        if code:
            raise CommandError(f"the benchmark failed (exit {code}); see the messages above", returncode=code)
