from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from jobs.cli import non_negative_float, positive_int
from jobs.conf import conf
from jobs.services import audit, maintenance


class Command(BaseCommand):
    help = ("Delete finished tasks older than the retention (JOBS['RETENTION_SECONDS']), in bounded batches, and "
            "audit entries older than JOBS['AUDIT_RETENTION_SECONDS'].")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", type=non_negative_float, default=None,
                            help="seconds since the task finished (default: the retention)")
        parser.add_argument("--batch", type=positive_int, default=None, help="rows per DELETE")

    def handle(self, *args: Any, **options: Any) -> None:
        age = options["older_than"]
        if age is None:
            age = conf().RETENTION_SECONDS
        n = maintenance.prune(older_than_seconds=age, batch=options["batch"])
        self.stdout.write(f"pruned {n} finished task(s) older than {age:g}s")
        if days := conf().AUDIT_RETENTION_SECONDS / 86400:
            self.stdout.write(f"pruned {audit.prune()} audit entr(ies) older than {days:g} day(s)")
