from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs import actor
from jobs.exceptions import InvalidTransition
from jobs.lifecycle import Status
from jobs.models import Task
from jobs.services import control


class Command(BaseCommand):
    help = "Cancel tasks: waiting ones at once, running ones as soon as their worker sees it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("ids", nargs="+", type=int, help="task ids")

    def handle(self, *args: Any, **options: Any) -> None:
        problems = []
        for task_id in options["ids"]:
            try:
                with actor.acting(actor.cli()):
                    task = control.cancel(task_id)
            except Task.DoesNotExist:
                problems.append(f"#{task_id}: no such task")
                continue
            except InvalidTransition as exc:
                problems.append(f"#{task_id}: already {exc.status}")
                continue
            state = "cancelled" if task.status == Status.CANCELLED else "cancellation requested (running)"
            self.stdout.write(f"#{task_id}: {state}")
        if problems:
            raise CommandError("; ".join(problems))
