"""``python -m deploy.chaos``: kill and restart parts of the local topology while tasks flow."""

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jobs.cli import non_negative_float, positive_int

from ..procs import ProcessError
from .config import CHAOS_TIMINGS, Config
from .run import Chaos


def parser() -> argparse.ArgumentParser:
    d = Config()
    p = argparse.ArgumentParser(
        prog="python -m deploy.chaos",
        description="While 10,000 tasks flow through nginx: kill -9 a worker supervisor and a web instance, "
                    "restart MariaDB, stop Redis for 10 s; then check that nothing was lost and print the figures.")
    p.add_argument("--tasks", type=positive_int, default=d.tasks, help=f"tasks to submit (default {d.tasks:,})")
    p.add_argument("--batch", type=positive_int, default=d.batch, help=f"tasks per POST /api/tasks/batch ({d.batch})")
    p.add_argument("--duration", type=non_negative_float, default=d.duration,
                   help=f"seconds to spread the submissions over ({d.duration:.0f})")
    p.add_argument("--redis-down", type=non_negative_float, default=d.redis_down,
                   help=f"seconds Redis stays stopped ({d.redis_down:.0f})")
    p.add_argument("--lease", type=non_negative_float, default=float(CHAOS_TIMINGS["JOBS_LEASE_SECONDS"]),
                   help="JOBS_LEASE_SECONDS of the topology (default %(default)s; heartbeats every 1 s); keep it "
                        "longer than a database restart")
    p.add_argument("--bounded", action="store_true", help="the CI version: 1,500 tasks, Redis down 5 s")
    p.add_argument("--json", dest="json_path", default=None, help="also write the report to this file")
    return p


def config_from(options: dict[str, Any]) -> Config:
    config = Config.bounded() if options.get("bounded") else Config(
        tasks=options["tasks"], batch=options["batch"], duration=options["duration"], redis_down=options["redis_down"])
    if options.get("lease"):
        config.timings["JOBS_LEASE_SECONDS"] = f"{options['lease']:g}"
    return config


def run(options: dict[str, Any], write: Callable[[str], None]) -> int:
    report = Chaos(config_from(options), log=write).run()
    write(report.summary())
    if options.get("json_path"):
        Path(options["json_path"]).write_text(json.dumps(report.to_dict(), indent=2, default=str))
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    options = vars(parser().parse_args(argv))
    # This process only starts others and reads the topology's database directly; the engine's settings.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "engine_site.settings")
    import django

    django.setup()
    try:
        code = run(options, lambda text: print(text, flush=True))  # noqa: T201
    except ProcessError as exc:
        print(f"chaos: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    if code:
        print("chaos: a check failed (see above)", file=sys.stderr)  # noqa: T201
    return code


if __name__ == "__main__":
    sys.exit(main())
