"""``python -m deploy.topology``: the production topology on this machine until Ctrl-C or SIGTERM."""

import argparse
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from jobs.cli import non_negative_int, port_number, positive_int

from ..procs import ProcessError, port_is_free
from .cluster import Topology
from .config import FAST_TIMINGS

DEFAULT_NGINX_PORT = 8080


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m deploy.topology",
        description="Start MariaDB, Redis, nginx, three web instances and three worker supervisors on loopback "
                    "ports, print where everything is, and stop them all cleanly on Ctrl-C or SIGTERM.")
    p.add_argument("--webs", type=positive_int, default=3, help="web instances (default 3)")
    p.add_argument("--workers", type=non_negative_int, default=3, help="worker supervisors (default 3)")
    p.add_argument("--processes", type=positive_int, default=1, help="worker processes per supervisor (default 1)")
    p.add_argument("--threads", type=positive_int, default=4, help="executor threads per process (default 4)")
    p.add_argument("--port", type=port_number, default=None,
                   help=f"nginx's port (default {DEFAULT_NGINX_PORT} if free, else any free port)")
    p.add_argument("--fast", action="store_true",
                   help="short engine timings (4 s leases, 1 s heartbeats) as the tests use")
    p.add_argument("--tenant", default="demo", help="the tenant the printed API key belongs to")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs, data) on exit")
    return p


def from_options(options: Mapping[str, Any], echo: bool = True) -> Topology:
    port = options.get("port")
    if port is None:
        port = DEFAULT_NGINX_PORT if port_is_free(DEFAULT_NGINX_PORT) else None
    return Topology(
        webs=options["webs"], workers=options["workers"], processes=options["processes"],
        threads=options["threads"], nginx_port=port, timings=FAST_TIMINGS if options.get("fast") else None,
        tenant=options["tenant"], keep_workdir=options.get("keep", False), echo=echo,
    )


def serve(topology: Topology, out: Callable[[str], object]) -> None:
    """Start ``topology``, print where everything is, wait for Ctrl-C/SIGTERM, stop everything cleanly."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        topology.start()
        out(topology.describe())
        out("Ctrl-C (or SIGTERM) stops everything.")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        out("topology: stopping…")
    finally:
        # A second Ctrl-C must not cut the clean-up short.
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        try:
            topology.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    out("topology: stopped")


def main(argv: list[str] | None = None) -> int:
    options = vars(parser().parse_args(argv))
    # This process only starts others and opens no database; the settings are the engine's, as manage.py's.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "engine_site.settings")
    import django

    django.setup()
    try:
        serve(from_options(options), out=lambda text: print(text, flush=True))  # noqa: T201
    except ProcessError as exc:
        print(f"topology: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
