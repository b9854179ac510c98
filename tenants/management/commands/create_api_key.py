import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs import actor
from tenants import keys
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Create an API key for a tenant; the secret is printed once and never stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="tenant slug")
        parser.add_argument("--name", default="", help="a label for the key")
        parser.add_argument("--operator", action="store_true",
                            help="may read every tenant (?all=true) and use the demo endpoints")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"tenant: unknown tenant {options['tenant']!r}")
        if len(options["name"]) > 100:
            raise CommandError("name: at most 100 characters")
        with actor.acting(actor.cli()):
            key, raw = keys.issue(tenant, name=options["name"], operator=options["operator"])
        if options["json"]:
            self.stdout.write(json.dumps({
                "key": raw, "prefix": key.prefix, "tenant": tenant.slug, "name": key.name,
                "operator": key.is_operator, "created_at": key.created_at.isoformat(),
            }))
        else:
            kind = "operator key" if key.is_operator else "key"
            self.stdout.write(f"{kind} for {tenant.slug} (shown once, store it now):\n{raw}")
