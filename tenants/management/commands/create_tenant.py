from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.text import slugify

from jobs import actor
from jobs.cli import positive_int
from tenants import changes
from tenants.models import Tenant

from ._flags import add_admission_flags, apply_admission_flags, summary, validate


class Command(BaseCommand):
    help = "Create a tenant."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--slug", help="default: derived from the name")
        parser.add_argument("--weight", type=positive_int, default=1, help="share under contention (≥ 1)")
        parser.add_argument("--max-running", type=positive_int, default=None,
                            help="most tasks running at once (≥ 1); default: JOBS['DEFAULT_MAX_RUNNING']")
        add_admission_flags(parser)
        parser.add_argument("--if-missing", action="store_true", help="succeed quietly if the slug exists")

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"].strip()
        slug = options["slug"] or slugify(name)
        if not name or not slug:
            raise CommandError("name: must contain letters or digits")
        existing = Tenant.objects.filter(slug=slug).first()
        if existing:
            if options["if_missing"]:
                self.stdout.write(f"tenant {slug} exists (id {existing.pk})")
                return
            raise CommandError(f"slug: a tenant {slug!r} already exists")
        tenant = Tenant(name=name, slug=slug, weight=options["weight"])
        if options["max_running"] is not None:
            tenant.max_running = options["max_running"]
        apply_admission_flags(tenant, options)
        validate(tenant)
        with actor.acting(actor.cli()):
            changes.create(tenant)
        self.stdout.write(f"created tenant {tenant.slug} (id {tenant.pk}, {summary(tenant)})")
