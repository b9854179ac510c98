from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs import actor
from tenants import keys
from tenants.models import ApiKey


class Command(BaseCommand):
    help = "Revoke an API key by its prefix (the part after 'jek_')."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("prefix")

    def handle(self, *args: Any, **options: Any) -> None:
        key = ApiKey.objects.filter(prefix=options["prefix"]).first()
        if key is None:
            raise CommandError(f"prefix: no API key {options['prefix']!r}")
        if key.revoked_at is not None:
            raise CommandError(f"prefix: key {key.prefix} was already revoked at {key.revoked_at:%Y-%m-%d %H:%M}")
        with actor.acting(actor.cli()):
            keys.revoke(key)
        self.stdout.write(f"revoked {key}")
