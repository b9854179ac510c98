from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs import actor
from jobs.cli import positive_int, positive_int_or_none
from tenants import changes
from tenants.models import Tenant

from ._flags import UNSET, add_admission_flags, apply_admission_flags, summary, validate


class Command(BaseCommand):
    help = "Show a tenant's settings, or change its weight, caps, queues or state."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--weight", type=positive_int, help="share under contention (≥ 1)")
        parser.add_argument("--max-running", type=positive_int_or_none, default=UNSET, metavar="N|none",
                            help="most tasks of the tenant running at once across every worker; none: no cap")
        add_admission_flags(parser)
        state = parser.add_mutually_exclusive_group()
        state.add_argument("--active", dest="active", action="store_true", default=None,
                           help="may enqueue again")
        state.add_argument("--inactive", dest="active", action="store_false",
                           help="may no longer enqueue; its API keys answer 403")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["slug"]).first()
        if tenant is None:
            raise CommandError(f"slug: no tenant {options['slug']!r}")
        changed = []
        if options["weight"] is not None:
            tenant.weight = options["weight"]
            changed.append("weight")
        if options["max_running"] is not UNSET:
            tenant.max_running = options["max_running"]
            changed.append("max_running")
        changed += apply_admission_flags(tenant, options)
        if options["active"] is not None:
            tenant.active = options["active"]
            changed.append("active")
        if changed:
            validate(tenant)
            # Web processes trust cached key verifications (state, limits) for API_KEY_CACHE_SECONDS;
            # workers read caps under the claim's row lock, so a cap holds from the next claim.
            with actor.acting(actor.cli()):
                changes.update(tenant, {name: getattr(tenant, name) for name in changed})
        self.stdout.write(f"{'updated' if changed else 'tenant'} {tenant.slug} (id {tenant.pk}): "
                          f"{summary(tenant, state=True)}")
