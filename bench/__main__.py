"""``python -m bench [SCENARIO…]``: the benchmark (docs/BENCHMARKS.md).

Run by hand, it parses the options, starts MariaDB and Redis (unless ``DATABASE_URL`` /
``REDIS_URL`` are set) and runs itself again as the benchmark process, which finds its
options in ``BENCH_OPTIONS`` and runs with ``bench.settings``.
"""

import argparse
import os
import sys

from jobs.cli import positive_float, positive_int

from .options import ENV_OPTIONS, SCENARIOS, Options


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the engine (and django-tasks-db and Celery on the same servers): starts MariaDB and "
                    "Redis unless DATABASE_URL / REDIS_URL are set, prints a table, writes JSON. Scenarios: "
                    + ", ".join(SCENARIOS))
    p.add_argument("scenarios", nargs="*", metavar="SCENARIO", help=f"any of {', '.join(SCENARIOS)} (default: all)")
    p.add_argument("--quick", action="store_true",
                   help="the CI smoke sizes: a few hundred tasks, a 2,000-row big table")
    p.add_argument("--tasks", type=positive_int, help="tasks per drain (default 20,000)")
    p.add_argument("--processes", type=positive_int, help="worker processes (default 2)")
    p.add_argument("--threads", type=positive_int, help="executor threads per process (default 8)")
    p.add_argument("--peers", action=argparse.BooleanOptionalAction, default=True,
                   help="also drain with django-tasks-db and Celery (default: yes)")
    p.add_argument("--clients", type=positive_int, help="concurrent HTTP clients (default 16)")
    p.add_argument("--requests", type=positive_int, help="single POST /api/tasks requests (default 4,000)")
    p.add_argument("--batches", type=positive_int, help="POST /api/tasks/batch requests (default 40)")
    p.add_argument("--rate", type=positive_float, help="pickup-latency enqueue rate, tasks/s (default 50)")
    p.add_argument("--rows", type=positive_int, help="finished rows of the big table (default 1,000,000)")
    p.add_argument("--samples", type=positive_int, help="requests per big-table endpoint (default 50)")
    p.add_argument("--seeds", type=positive_int, help="seed scenario: POST /api/demo/seed calls, 50 tasks each "
                                                      "(default 4)")
    p.add_argument("--json", metavar="PATH",
                   help="write the results here (default: var/bench/results-<time>.json and latest.json)")
    p.add_argument("--svg", action="store_true", help="draw the charts to docs/bench/*.svg")
    p.add_argument("--svg-dir", metavar="DIR", help="where --svg writes (default docs/bench)")
    return p


def options_from(argv: list[str] | None) -> Options:
    """The run's options; a bad argument exits with argparse's message and status 2."""
    p = parser()
    args = p.parse_args(argv)
    unknown = [s for s in args.scenarios if s not in SCENARIOS]
    if unknown:
        p.error(f"unknown scenario {unknown[0]!r}; choose from {', '.join(SCENARIOS)}")
    return Options.sized(
        quick=args.quick, scenarios=list(dict.fromkeys(args.scenarios)) or list(SCENARIOS),
        tasks=args.tasks, processes=args.processes, threads=args.threads, peers=args.peers, clients=args.clients,
        requests=args.requests, batches=args.batches, rate=args.rate, rows=args.rows, samples=args.samples,
        seeds=args.seeds,
        json=args.json, svg=args.svg or bool(args.svg_dir), svg_dir=args.svg_dir,
    )


def main(argv: list[str] | None = None) -> int:
    inner = bool(os.environ.get(ENV_OPTIONS))
    options = None if inner else options_from(argv)
    # The outer process only starts servers (the engine's settings, as manage.py's); the benchmark
    # process runs with the bench.settings its environment names, and migrates and checks.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "engine_site.settings")
    import django

    django.setup()
    from .main import run, run_scenarios

    if options is None:
        return run_scenarios(stdout=sys.stdout, stderr=sys.stderr)
    code = run(options, stdout=sys.stdout, stderr=sys.stderr)
    if code:
        print(f"bench: the benchmark failed (exit {code}); see the messages above", file=sys.stderr)  # noqa: T201
    return code


if __name__ == "__main__":
    sys.exit(main())
