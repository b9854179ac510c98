from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs import actor
from jobs.services import pauses

from .pause import add_scope, scope_of


class Command(BaseCommand):
    help = "Resume a paused queue, task type or tenant: the tasks its pause parked are pending again."

    def add_arguments(self, parser: CommandParser) -> None:
        add_scope(parser, required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        kind, value = scope_of(options)
        try:
            with actor.acting(actor.cli()):
                n = pauses.resume(kind, value)
        except pauses.NotPaused:
            raise CommandError(f"--{kind}: {value!r} is not paused (manage.py pause --list)") from None
        except pauses.InvalidPause as exc:
            raise CommandError(f"{exc.field}: {exc.message}") from None
        self.stdout.write(f"resumed {kind} {value}: {n} parked task(s) are pending again")
