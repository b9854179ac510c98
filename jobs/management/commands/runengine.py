import random
import secrets
import signal
import time
from types import FrameType
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from jobs.cli import positive_int
from jobs.contrib.demo import SIMULATED_TYPES
from jobs.lifecycle import Status
from jobs.services import analytics
from jobs.services.enqueue import enqueue_many
from tenants import keys
from tenants.models import Tenant

from . import _procs

DEMO_TYPES = [*SIMULATED_TYPES, "noop"]


class Command(BaseCommand):
    help = "Run the whole engine from one command: the web app (API + console), workers, a progress line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--processes", type=positive_int, default=2, help="worker processes")
        parser.add_argument("--threads", type=positive_int, default=8, help="threads per worker process")
        parser.add_argument("--host", default=settings.WEB_HOST)
        parser.add_argument("--port", type=positive_int, default=settings.WEB_PORT)
        parser.add_argument("--no-web", action="store_true", help="workers only")
        parser.add_argument("--demo", action="store_true",
                            help="create a 'demo' tenant, a console login and an operator key, and keep feeding "
                                 "the tenant the seed's simulated workload")
        parser.add_argument("--demo-rate", type=positive_int, default=3, help="demo tasks per second")

    def handle(self, *args: Any, **options: Any) -> None:
        self.stopping = False
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        tenant = self._demo_setup(options) if options["demo"] else None
        db = settings.DATABASES["default"]
        self.stdout.write(
            f"engine: database {db['ENGINE'].rsplit('.', 1)[-1]} {db['NAME']}, "
            f"redis {'on' if settings.REDIS_URL else 'off (in-process fallbacks)'}; Ctrl-C stops it"
        )
        children = [_procs.runworkers(options["processes"], options["threads"])]
        if not options["no_web"]:
            children.append(_procs.serve(options["host"], options["port"]))
            base = f"http://{options['host']}:{options['port']}"
            self.stdout.write(f"console: {base}/   API: {base}/api/   API docs: {base}/api/docs/   "
                              f"admin: {base}/admin/")
        next_report = 0.0
        try:
            while not self.stopping and all(c.poll() is None for c in children):
                if tenant is not None:
                    self._feed(tenant, options["demo_rate"])
                if time.monotonic() >= next_report:
                    self._report()
                    next_report = time.monotonic() + 2
                time.sleep(1)
        finally:
            _procs.stop(children)
            self._report()

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def _demo_setup(self, options: dict[str, Any]) -> Tenant:
        tenant, _ = Tenant.objects.get_or_create(slug="demo", defaults={"name": "Demo tenant"})
        users = get_user_model()
        username = settings.CONSOLE_ADMIN_USER
        if not users.objects.filter(username=username).exists():
            password = settings.CONSOLE_ADMIN_PASSWORD or secrets.token_urlsafe(12)
            users.objects.create_superuser(username=username, email="", password=password)
            shown = "(from CONSOLE_ADMIN_PASSWORD)" if settings.CONSOLE_ADMIN_PASSWORD else password
            self.stdout.write(f"console login: {username} / {shown}   (shown once; change it in the admin)")
        if not tenant.api_keys.filter(revoked_at__isnull=True, name="demo").exists():
            _, raw = keys.issue(tenant, name="demo", operator=True)
            self.stdout.write(f"demo operator API key (shown once): {raw}")
        return tenant

    def _feed(self, tenant: Tenant, rate: int) -> None:
        specs = [
            {"type": random.choice(DEMO_TYPES), "priority": random.randint(1, 5),  # noqa: S311
             "payload": {"to": f"user{random.randint(1, 999)}@example.com"}}  # noqa: S311
            for _ in range(rate)
        ]
        enqueue_many(specs, tenant=tenant)

    def _report(self) -> None:
        # The analytics overview: live counts on the claim index plus the rollups, never a table scan.
        counts = analytics.overview(None)["by_status"]
        line = "  ".join(f"{s}={counts.get(s, 0)}" for s in Status.values)
        self.stdout.write(f"[{time.strftime('%H:%M:%S')}] {line}")
