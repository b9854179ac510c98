import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs import actor
from jobs.cli import json_object, positive_int, priority
from jobs.exceptions import InvalidTask
from jobs.models import Schedule
from jobs.services import schedules

#: The flag that gives each field of a definition (for error messages that name what was typed).
FLAGS = {"timezone": "--tz", "missed_limit": "--missed-limit", "name": "NAME"}


def _flag(field: str) -> str:
    return FLAGS.get(field) or f"--{field.split('.')[0].replace('_', '-')}"


def _when(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "-"


class Command(BaseCommand):
    help = ("Recurring tasks: add, list, pause, resume, delete a schedule, or fire one now "
            "(docs/SCHEDULES.md). Every change is recorded in the audit log as user@host.")

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True,
                                        metavar="add|list|pause|resume|delete|run-now")
        add = actions.add_parser("add", help="create a schedule (its first tick is the first after now)")
        add.add_argument("name", help="1 to 100 of A-Z a-z 0-9 _ . : -")
        add.add_argument("--tenant", required=True, metavar="SLUG")
        add.add_argument("--type", required=True, metavar="T", help="a registered task type")
        timing = add.add_mutually_exclusive_group(required=True)
        timing.add_argument("--cron", metavar="EXPR", help="5 fields, or 6 with seconds first")
        timing.add_argument("--every", metavar="INTERVAL", help="30s, 5m, 1h, 1d or seconds")
        add.add_argument("--payload", type=json_object, default=None, metavar="JSON")
        add.add_argument("--priority", type=priority, default=None, metavar="N")
        add.add_argument("--queue", default=None, metavar="Q")
        add.add_argument("--tz", default=None, metavar="ZONE", help="an IANA zone the cron is read in (UTC)")
        add.add_argument("--missed", choices=Schedule.Missed.values, default=None,
                         help="after downtime: skip, latest (one task for the gap, the default) or all")
        add.add_argument("--missed-limit", type=positive_int, default=None, metavar="N",
                         help="with --missed all: at most N (10)")
        add.add_argument("--options", type=json_object, default=None, metavar="JSON",
                         help='other task fields, e.g. {"max_retries": 1, "timeout_seconds": 60}')
        add.add_argument("--disabled", action="store_true", help="create it paused")
        listing = actions.add_parser("list", help="every schedule, its next and last run, its drift")
        listing.add_argument("--json", action="store_true", help="one JSON array")
        for name, text in (("pause", "stop firing it"), ("resume", "fire it again from the next tick"),
                           ("delete", "delete it and its tick history"), ("run-now", "fire one task now")):
            actions.add_parser(name, help=text).add_argument("name")

    def handle(self, *args: Any, **options: Any) -> None:
        with actor.acting(actor.cli()):
            try:
                self._handle(options)
            except schedules.ScheduleNotFound as exc:
                raise CommandError(f"NAME: {exc}") from None
            except InvalidTask as exc:
                raise CommandError(f"{_flag(exc.field)}: {exc.message}") from None

    def _handle(self, options: dict[str, Any]) -> None:
        action = options["action"]
        if action == "list":
            return self._list(json_out=options["json"])
        name = options["name"]
        if action == "add":
            given = {"tenant": options["tenant"], "type": options["type"], "cron": options["cron"],
                     "every": options["every"], "payload": options["payload"], "priority": options["priority"],
                     "queue": options["queue"], "timezone": options["tz"], "missed": options["missed"],
                     "missed_limit": options["missed_limit"], "options": options["options"]}
            data = {k: v for k, v in given.items() if v is not None}
            if options["disabled"]:
                data["enabled"] = False
            schedule = schedules.create(name, data)
            self.stdout.write(f"added schedule {name}: {schedules.expression(schedule)} ({schedule.timezone}), "
                              f"next run {_when(schedule.next_run_at)}")
        elif action in ("pause", "resume"):
            schedule = getattr(schedules, action)(name)
            self.stdout.write(f"{action}d schedule {name}; next run {_when(schedule.next_run_at)}"
                              if schedule.enabled else f"paused schedule {name}")
        elif action == "delete":
            schedules.delete(name)
            self.stdout.write(f"deleted schedule {name}")
        else:
            tick = schedules.run_now(name)
            if tick.error:
                raise CommandError(f"schedule {name}: no task enqueued: {tick.error}")
            self.stdout.write(f"fired schedule {name}: task {tick.task_id}")
        return None

    def _list(self, *, json_out: bool) -> None:
        rows = schedules.rows()
        if json_out:
            self.stdout.write(json.dumps([r.as_dict() for r in rows], indent=2))
            return
        if not rows:
            self.stdout.write("no schedules (add one: schedule add NAME --tenant SLUG --type T --every 1m)")
            return
        table = [("NAME", "TENANT", "TYPE", "EXPRESSION", "TZ", "ENABLED", "NEXT RUN", "LAST RUN", "LAST OUTCOME",
                  "DRIFT")]
        for r in rows:
            s = r.schedule
            table.append((s.name, s.tenant.slug, s.type, r.expression, s.timezone, "yes" if s.enabled else "no",
                          _when(s.next_run_at) if s.enabled else "-", _when(s.last_run_at), r.outcome or "-",
                          ", ".join(r.drift) or "-"))
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
        for row in table:
            self.stdout.write("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
                              .rstrip())
