"""Entry point of a worker process; imports nothing of Django's until set up."""

import logging
import os
import signal
import sys
import time

from .options import WorkerOptions
from .startup import StartTimes


def main(options: WorkerOptions, worker_id: str, times: StartTimes | None = None) -> None:
    forked = time.time()
    # A forked child inherits the supervisor's handlers: until it installs its own, default ones.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    from django.apps import apps

    if not apps.ready:
        # Spawned (no fork on this platform): a fresh interpreter sets Django up. A forked child
        # has the supervisor's, logging included; setting up again would only redo the logging.
        import django

        django.setup()
    from .runtime import WorkerRuntime

    runtime = WorkerRuntime(options=options, worker_id=worker_id, times=times, forked=forked)
    runtime.install_signal_handlers()
    code = runtime.run()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    # Abandoned executor threads may still be inside a handler: leave without joining them.
    os._exit(code)
