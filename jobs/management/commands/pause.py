from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs import actor
from jobs.services import pauses

KINDS = ("queue", "type", "tenant")


def add_scope(parser: CommandParser, *, required: bool) -> None:
    """``--queue Q | --type T | --tenant SLUG``: exactly one (pause and resume share it)."""
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("--queue", metavar="Q", help="a queue's name")
    group.add_argument("--type", metavar="T", help="a task type's name")
    group.add_argument("--tenant", metavar="SLUG", help="a tenant's slug")


def scope_of(options: dict[str, Any]) -> tuple[str, str]:
    for kind in KINDS:
        if options.get(kind) is not None:
            return kind, options[kind]
    raise CommandError("give one of --queue Q, --type T or --tenant SLUG (or --list)")


def show(p: pauses.PauseInfo) -> str:
    held = f", {p.blocked}{'+' if p.blocked_more else ''} task(s) parked" if p.kind != "tenant" else ""
    by = p.paused_by or "unknown"
    why = f": {p.reason}" if p.reason else " (no reason given)"
    return f"{p.kind} {p.value}: paused by {by} since {p.created_at:%Y-%m-%d %H:%M:%S} UTC{held}{why}"


class Command(BaseCommand):
    help = ("Pause a queue, a task type or a tenant, fleet-wide within a second: running tasks finish, "
            "nothing new of it starts, until `manage.py resume`. --list shows what is paused.")

    def add_arguments(self, parser: CommandParser) -> None:
        add_scope(parser, required=False)
        parser.add_argument("--reason", default="", help="why (shown in the console, the API and --list)")
        parser.add_argument("--list", action="store_true", help="show every pause: what, who, why, since when")

    def handle(self, *args: Any, **options: Any) -> None:
        chosen = [k for k in KINDS if options.get(k) is not None]
        if options["list"]:
            if chosen or options["reason"]:
                raise CommandError("--list takes no other option")
            rows = pauses.list_pauses()
            for p in rows:
                self.stdout.write(show(p))
            if not rows:
                self.stdout.write("nothing is paused")
            return
        kind, value = scope_of(options)
        try:
            # paused_by records a CLI caller as the audit log does: user@host.
            with actor.acting(actor.cli()) as me:
                info, created = pauses.pause(kind, value, reason=options["reason"], by=me.name)
        except pauses.InvalidPause as exc:
            raise CommandError(f"--{kind if exc.field == 'value' else exc.field}: {exc.message}") from None
        self.stdout.write(f"{'paused' if created else 'already paused, updated'}: {show(info)}")
