import os
import random
import signal
import subprocess
import sys
import time
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db.models import Count

from jobs.enqueueing import enqueue_many
from jobs.models import Status, Task
from tenants.models import Tenant

from ._args import positive_int

DEMO_TYPES = ["send_email", "resize_image", "generate_report", "call_webhook", "noop"]


class Command(BaseCommand):
    help = "Run the whole engine from one command: worker supervisor plus a live progress line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--processes", type=positive_int, default=2)
        parser.add_argument("--threads", type=positive_int, default=8)
        parser.add_argument("--demo", action="store_true",
                            help="create a 'demo' tenant and keep feeding it the seed's simulated workload")
        parser.add_argument("--demo-rate", type=positive_int, default=5, help="demo tasks per second")

    def handle(self, *args: Any, **options: Any) -> None:
        self.stopping = False
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        tenant = None
        if options["demo"]:
            tenant, _ = Tenant.objects.get_or_create(slug="demo", defaults={"name": "Demo tenant"})
        db = settings.DATABASES["default"]
        self.stdout.write(
            f"engine: database {db['ENGINE'].rsplit('.', 1)[-1]} {db['NAME']}, "
            f"redis {'on' if settings.REDIS_URL else 'off (in-process fallbacks)'}; Ctrl-C stops it"
        )
        workers = subprocess.Popen(  # noqa: S603 — our own manage.py with validated options
            [sys.executable, sys.argv[0], "runworkers", "--processes", str(options["processes"]),
             "--threads", str(options["threads"])],
            env=os.environ.copy(),
        )
        next_report = 0.0
        try:
            while not self.stopping and workers.poll() is None:
                if tenant is not None:
                    self._feed(tenant, options["demo_rate"])
                if time.monotonic() >= next_report:
                    self._report()
                    next_report = time.monotonic() + 2
                time.sleep(1)
        finally:
            if workers.poll() is None:
                workers.send_signal(signal.SIGTERM)
            workers.wait()
            self._report()

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def _feed(self, tenant: Tenant, rate: int) -> None:
        specs = [
            {"type": random.choice(DEMO_TYPES), "priority": random.randint(1, 5),  # noqa: S311
             "payload": {"to": f"user{random.randint(1, 999)}@example.com"}}  # noqa: S311
            for _ in range(rate)
        ]
        enqueue_many(specs, tenant=tenant)

    def _report(self) -> None:
        counts = dict(Task.objects.values_list("status").annotate(n=Count("id")).order_by())
        line = "  ".join(f"{s}={counts.get(s, 0)}" for s in Status.values)
        self.stdout.write(f"[{time.strftime('%H:%M:%S')}] {line}")
