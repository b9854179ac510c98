import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs.models import Task
from jobs.services import why


class Command(BaseCommand):
    help = "Say why a task is waiting (or where it is): one reason code, a sentence, the detail and an ETA."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("id", type=int, help="task id")
        parser.add_argument("--json", action="store_true", help="the answer as JSON (as GET /api/tasks/{id}/why)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            task = Task.objects.get(pk=options["id"])
        except Task.DoesNotExist:
            raise CommandError(f"#{options['id']}: no such task") from None
        reason = why.explain(task)
        if options["json"]:
            self.stdout.write(json.dumps(reason.as_dict(), indent=2, default=str))
            return
        self.stdout.write(f"#{task.pk} {task.type} ({task.status}): {reason.code}")
        self.stdout.write(reason.message)
        for name, value in reason.detail.items():
            self.stdout.write(f"  {name}: {value}")
        if reason.eta:
            self.stdout.write(f"  eta: {reason.eta.isoformat(timespec='seconds')}")
