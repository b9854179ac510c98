from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs import actor
from jobs.cli import positive_float, positive_int
from jobs.exceptions import InvalidResource
from jobs.services import resources


def _per(seconds: float) -> str:
    return f"{seconds:g} s"


class Command(BaseCommand):
    help = "Define, list or delete resources: at most RATE starts per SECONDS of the tasks naming one."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="set|list|delete")
        define = actions.add_parser("set", help="create or change a resource")
        define.add_argument("name", help="1 to 100 of A-Z a-z 0-9 _ . : -")
        define.add_argument("--rate", type=positive_int, required=True,
                            help=f"starts allowed per window (1 to {resources.MAX_RATE})")
        define.add_argument("--per", type=positive_float, required=True, metavar="SECONDS",
                            help="the window's length, seconds")
        define.add_argument("--per-tenant", action="store_true",
                            help="one window per tenant (default: one shared by every tenant)")
        actions.add_parser("list", help="every resource and the starts it has available now")
        remove = actions.add_parser("delete", help="delete a resource (its tasks then start unlimited)")
        remove.add_argument("name")

    def handle(self, *args: Any, **options: Any) -> None:
        with actor.acting(actor.cli()):
            self._act(options)

    def _act(self, options: dict[str, Any]) -> None:
        action = options["action"]
        if action == "set":
            try:
                resource, created = resources.define(options["name"], rate=options["rate"],
                                                     per_seconds=options["per"], per_tenant=options["per_tenant"])
            except InvalidResource as exc:
                raise CommandError(str(exc)) from None
            scope = "per tenant" if resource.per_tenant else "global"
            self.stdout.write(f"{'created' if created else 'updated'} resource {resource.name}: "
                              f"{resource.rate} per {_per(resource.per_seconds)}, {scope}")
        elif action == "delete":
            if not resources.delete(options["name"]):
                raise CommandError(f"name: no resource {options['name']!r}")
            self.stdout.write(f"deleted resource {options['name']} (its tasks now start unlimited)")
        else:
            self._list()

    def _list(self) -> None:
        states = resources.overview()
        if not states:
            self.stdout.write("no resources (define one: resource set NAME --rate N --per SECONDS)")
            return
        rows = [("NAME", "RATE", "PER", "SCOPE", "AVAILABLE NOW")]
        for s in states:
            r = s.resource
            if r.per_tenant:
                now = f"{r.rate} each; {s.exhausted} of {s.buckets} tenant(s) at 0"
            elif s.available:
                now = f"{s.available}/{r.rate}"
            else:
                at = s.next_at.isoformat(timespec="milliseconds") if s.next_at else "?"
                now = f"0/{r.rate} (next at {at})"
            rows.append((r.name, str(r.rate), _per(r.per_seconds), "per tenant" if r.per_tenant else "global", now))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
        for row in rows:
            self.stdout.write("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
                              .rstrip())
