import json
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs.cli import positive_int
from jobs.services import auditlog

MAX_LIMIT = 10_000


def _moment(raw: str) -> str:
    """``--since``/``--until``: a duration back from now (``1h``, ``7d``) or ISO 8601, as the filter reads it."""
    moment = auditlog.ago(raw)
    return moment.isoformat() if moment is not None else raw


def _line(entry: dict[str, Any]) -> str:
    at = datetime.fromisoformat(entry["at"]).strftime("%Y-%m-%d %H:%M:%S")
    what = [entry["target"] or "-"]
    if entry["filter"]:
        what.append(f"filter {json.dumps(entry['filter'], sort_keys=True)}")
    if entry["counts"]:
        what.append(json.dumps(entry["counts"], sort_keys=True))
    where = f" from {entry['address']}" if entry["address"] else ""
    return f"{at}  {entry['action']:<16} {entry['actor']} ({entry['source']}{where})  {'  '.join(what)}"


class Command(BaseCommand):
    help = "Show the operator audit log, newest first: who changed what, when and from where."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", metavar="ISO|1h|7d", help="from this moment, or this long ago")
        parser.add_argument("--until", metavar="ISO|1h|7d", help="up to this moment (excluded)")
        parser.add_argument("--action", metavar="A", help="an action (task.cancel), or a noun (pause: every pause.*)")
        parser.add_argument("--actor", metavar="X", help="a username, an API key's prefix, or user@host")
        parser.add_argument("--tenant", metavar="SLUG", help="entries about this tenant")
        parser.add_argument("--limit", type=positive_int, default=50, metavar="N",
                            help=f"at most N entries (default 50, at most {MAX_LIMIT})")
        parser.add_argument("--json", action="store_true", help="one JSON object per line")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["limit"] > MAX_LIMIT:
            raise CommandError(f"--limit: at most {MAX_LIMIT}")
        data = {name: options[name] for name in ("action", "actor", "tenant") if options[name] is not None}
        for name in ("since", "until"):
            if options[name] is not None:
                data[name] = _moment(options[name])
        filters = auditlog.entries(data)
        if not filters.is_valid():
            field, messages = next(iter(filters.errors.items()))
            raise CommandError(f"--{field}: {' '.join(messages)} (ISO 8601, or a duration such as 1h or 7d)"
                               if field in ("since", "until") else f"--{field}: {' '.join(messages)}")
        rows, _ = auditlog.page(filters.qs, size=options["limit"])
        for entry in rows:
            shown = auditlog.as_dict(entry)
            self.stdout.write(json.dumps(shown, sort_keys=True) if options["json"] else _line(shown))
        if not rows and not options["json"]:
            self.stdout.write("no entries")
