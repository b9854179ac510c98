"""``manage.py topology``: the production topology on this machine (see deploy/topology.py)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from deploy import topology


class Command(BaseCommand):
    requires_system_checks: list[str] = []  # this process only starts others; it opens no database
    help = ("Start MariaDB, Redis, nginx, three web instances and three worker supervisors on loopback ports, "
            "print where everything is, and stop them all cleanly on Ctrl-C or SIGTERM.")

    def add_arguments(self, parser: CommandParser) -> None:
        topology.add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            topology.serve(topology.from_options(options, echo=True), out=self.stdout.write)
        except topology.TopologyError as exc:
            raise CommandError(str(exc)) from None
