"""What create_tenant and tenant share: the admission and queue flags, validation, the summary line."""

import argparse
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser

from jobs.cli import positive_int_or_none
from tenants.models import Tenant
from tenants.queues import describe, parse_queues

#: A flag not given (``none`` is a value: no cap, or the default queues).
UNSET = object()
#: flag dest → model field.
ADMISSION = {"max_pending": "max_pending", "max_pending_age": "max_pending_age_seconds",
             "allowed_queues": "allowed_queues"}


def queue_list(raw: str) -> list[str]:
    try:
        return parse_queues(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_admission_flags(parser: CommandParser) -> None:
    parser.add_argument("--max-pending", type=positive_int_or_none, default=UNSET, metavar="N|none",
                        help="most waiting tasks (pending, scheduled, blocked) before submissions answer 429; "
                             "none: no cap")
    parser.add_argument("--max-pending-age", type=positive_int_or_none, default=UNSET, metavar="SECONDS|none",
                        help="submissions answer 429 while the oldest due waiting task is older; none: no cap")
    parser.add_argument("--allowed-queues", type=queue_list, default=UNSET, metavar="a,b|none",
                        help="queues the tenant may submit to; none: its own (its slug) and 'default'")


def apply_admission_flags(tenant: Tenant, options: dict[str, Any]) -> list[str]:
    """Set the fields whose flags were given; return their names."""
    changed = []
    for flag, field in ADMISSION.items():
        if options[flag] is not UNSET:
            setattr(tenant, field, options[flag])
            changed.append(field)
    return changed


def validate(tenant: Tenant) -> None:
    """The model's own checks, as a one-line error naming the field."""
    try:
        tenant.full_clean()
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise CommandError(f"{field}: {' '.join(messages)}") from None


def summary(tenant: Tenant, *, state: bool = False) -> str:
    def cap(value: int | None, unit: str = "") -> str:
        return "none" if value is None else f"{value}{unit}"

    shown = f"weight {tenant.weight}, max running {cap(tenant.max_running)}"
    if state:
        shown += ", active" if tenant.active else ", inactive"
    return (f"{shown}, max pending {cap(tenant.max_pending)}, "
            f"max pending age {cap(tenant.max_pending_age_seconds, ' s')}, "
            f"queues {describe(tenant.allowed_queues, tenant.slug)}")
