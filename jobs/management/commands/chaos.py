"""``manage.py chaos``: kill and restart parts of the local topology while tasks flow (see deploy/chaos.py)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from deploy import chaos
from deploy.topology import TopologyError


class Command(BaseCommand):
    requires_system_checks: list[str] = []  # this process only starts others; it opens no database
    help = ("While 10,000 tasks flow through nginx: kill -9 a worker supervisor and a web instance, restart "
            "MariaDB, stop Redis for 10 s; then check that nothing was lost and print the figures.")

    def add_arguments(self, parser: CommandParser) -> None:
        chaos.add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            code = chaos.main_with(options, self.stdout.write)
        except TopologyError as exc:
            raise CommandError(str(exc)) from None
        if code:
            raise CommandError("chaos: a check failed (see above)")
