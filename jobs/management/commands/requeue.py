from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs import actor
from jobs.exceptions import InvalidTransition
from jobs.models import Task
from jobs.services import control
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Requeue failed (dead-lettered) or cancelled tasks: by id, or every failed one."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("ids", nargs="*", type=int, help="task ids")
        parser.add_argument("--all-failed", action="store_true", help="every dead-lettered task")
        parser.add_argument("--tenant", help="only this tenant's tasks (slug)")
        parser.add_argument("--type", help="only tasks of this type (with --all-failed)")

    def handle(self, *args: Any, **options: Any) -> None:
        with actor.acting(actor.cli()):
            self._requeue(options)

    def _requeue(self, options: dict[str, Any]) -> None:
        if bool(options["ids"]) == bool(options["all_failed"]):
            raise CommandError("give task ids or --all-failed (not both)")
        tenant = None
        if options["tenant"]:
            tenant = Tenant.objects.filter(slug=options["tenant"]).first()
            if tenant is None:
                raise CommandError(f"unknown tenant {options['tenant']!r}")
        if options["all_failed"]:
            n = control.requeue_failed(tenant=tenant, type=options["type"])
            self.stdout.write(f"requeued {n} failed task(s)")
            return
        problems = []
        for task_id in options["ids"]:
            try:
                control.requeue(task_id, tenant=tenant)
                self.stdout.write(f"requeued #{task_id}")
            except Task.DoesNotExist:
                problems.append(f"#{task_id}: no such task")
            except InvalidTransition as exc:
                problems.append(f"#{task_id}: is {exc.status}; only failed or cancelled tasks can be requeued")
        if problems:
            raise CommandError("; ".join(problems))
