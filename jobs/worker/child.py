"""Entry point of a spawned worker process; imports nothing of Django's until set up."""

import logging
import os
import sys

from .options import WorkerOptions


def main(options: WorkerOptions, worker_id: str) -> None:
    import django

    django.setup()
    from .process import WorkerRuntime

    runtime = WorkerRuntime(options=options, worker_id=worker_id)
    runtime.install_signal_handlers()
    code = runtime.run()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    # Abandoned executor threads may still be inside a handler: leave without joining them.
    os._exit(code)
