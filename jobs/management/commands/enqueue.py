from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs.cli import json_object, non_negative_float, positive_int, priority
from jobs.conf import conf
from jobs.exceptions import InvalidTask
from jobs.services.enqueue import Enqueued, enqueue_many


class Command(BaseCommand):
    help = "Enqueue COUNT tasks of TYPE for a tenant."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("type", help="registered task type, e.g. noop, sleep, send_email")
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--payload", type=json_object, default=None, help="JSON object")
        parser.add_argument("--count", type=positive_int, default=1)
        parser.add_argument("--priority", type=priority, default=None, help="1 (lowest) … 5 (most urgent)")
        parser.add_argument("--delay", type=non_negative_float, default=None, help="seconds from now")
        parser.add_argument("--queue", default=None)
        parser.add_argument("--max-retries", type=int, default=None)
        parser.add_argument("--max-lost", type=int, default=None,
                            help="runs that may be lost with their worker before the task is dead-lettered")
        parser.add_argument("--timeout", type=positive_int, default=None, help="seconds per run")
        parser.add_argument("--concurrency-key", default=None,
                            help="at most --concurrency-limit tasks of this key (within the tenant) run at once")
        parser.add_argument("--concurrency-limit", type=positive_int, default=None, help="slots of the key (default 1)")
        parser.add_argument("--resource", default=None, help="a resource (manage.py resource) rate-limiting the starts")
        parser.add_argument("--unique-key", default=None,
                            help="at most one task of the tenant holds this key: a live holder is answered instead")
        parser.add_argument("--unique-for", type=positive_int, default=None,
                            help="seconds the key is held at most (default: while the task is in its states)")
        parser.add_argument("--unique-states", default=None,
                            help="the state groups the key counts in, e.g. waiting,running (the default)")

    def handle(self, *args: Any, **options: Any) -> None:
        spec: dict[str, Any] = {"type": options["type"]}
        for option, field in (("payload", "payload"), ("priority", "priority"), ("delay", "delay_seconds"),
                              ("queue", "queue"), ("max_retries", "max_retries"),
                              ("max_lost", "max_lost"), ("timeout", "timeout_seconds"),
                              ("concurrency_key", "concurrency_key"), ("concurrency_limit", "concurrency_limit"),
                              ("resource", "resource"), ("unique_key", "unique_key"),
                              ("unique_for", "unique_for")):
            if options[option] is not None:
                spec[field] = options[option]
        if options["unique_states"] is not None:
            spec["unique_states"] = [s.strip() for s in options["unique_states"].split(",") if s.strip()]
        results = []
        remaining = options["count"]
        try:
            while remaining:
                size = min(remaining, conf().MAX_BATCH)
                results += enqueue_many([spec] * size, tenant=options["tenant"])
                remaining -= size
        except InvalidTask as exc:
            field = exc.field.split(".")[-1]
            raise CommandError(f"{field}: {exc.message}") from None
        self._report(results, options)

    def _report(self, results: list[Enqueued], options: dict[str, Any]) -> None:
        new = [r.task.pk for r in results if not r.duplicate]
        held = sorted({r.task.pk for r in results if r.duplicate})
        if new:
            ids = f"#{new[0]}" if len(new) == 1 else f"#{new[0]}…#{new[-1]}"
            self.stdout.write(f"enqueued {len(new)} {options['type']} task(s) for {options['tenant']}: {ids}")
        if held:
            dups = len(results) - len(new)
            holder = ", ".join(f"#{pk}" for pk in held)
            self.stdout.write(f"duplicate: {dups} not enqueued, unique key {options['unique_key']!r} is held by "
                              f"{holder}" if options["unique_key"] else
                              f"duplicate: {dups} not enqueued, their type's unique key is held by {holder}")
