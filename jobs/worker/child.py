"""Entry point of a spawned worker process; imports nothing of Django's until set up."""

import logging
import os
import signal
import sys

from .options import WorkerOptions


def main(options: WorkerOptions, worker_id: str) -> None:
    # A forked child inherits the supervisor's handlers: until it installs its own, default ones.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    import django

    django.setup()
    from .runtime import WorkerRuntime

    runtime = WorkerRuntime(options=options, worker_id=worker_id)
    runtime.install_signal_handlers()
    code = runtime.run()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    # Abandoned executor threads may still be inside a handler: leave without joining them.
    os._exit(code)
