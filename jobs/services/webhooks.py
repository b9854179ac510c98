"""Webhook endpoints: create (the secret shown once), list, delete; the SSRF guard of their targets.

The guard runs at creation and again at every delivery (``jobs.contrib.webhooks`` connects to the
address it checked): a name may resolve elsewhere by then. ``JOBS['WEBHOOK_ALLOW_PRIVATE']``
decides, ``None`` meaning "allowed unless settings.PRODUCTION".
"""

import ipaddress
import secrets
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from django.conf import settings
from django.db import transaction

from tenants.models import Tenant

from ..conf import conf
from ..models import Task, Webhook
from ..models.webhooks import DELIVERY_TYPE, EVENTS
from ..store import webhooks as subscriptions
from . import audit, scan

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Endpoints a tenant may have: each outcome costs one delivery task per subscribed endpoint.
MAX_PER_TENANT = 20


class InvalidWebhook(ValueError):
    """An endpoint the engine refuses; ``field`` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Target:
    """A URL's parts and the address a delivery connects to (checked by the guard)."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


def allow_private() -> bool:
    forced = conf().WEBHOOK_ALLOW_PRIVATE
    return bool(forced) if forced is not None else not getattr(settings, "PRODUCTION", False)


def refusal(ip: IPAddress) -> str | None:
    """Why a delivery may not go to ``ip`` (None: a public address)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for name in ("loopback", "private", "link_local", "multicast", "reserved", "unspecified"):
        if getattr(ip, f"is_{name}"):
            return name.replace("_", "-")
    return None if ip.is_global else "not-global"


def _parts(url: object) -> SplitResult:
    if not isinstance(url, str) or not url:
        raise InvalidWebhook("url", "must be an http or https URL")
    if len(url) > 2000:
        raise InvalidWebhook("url", "must be at most 2000 characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a port out of range)
    except ValueError as exc:
        raise InvalidWebhook("url", f"is not a valid URL ({exc})") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise InvalidWebhook("url", "must be an http or https URL with a host")
    if parts.username or parts.password:
        raise InvalidWebhook("url", "must not carry credentials (the signature authenticates the engine)")
    return parts


def resolve(url: object) -> Target:
    """The URL's target, connected to an address the guard allows; ``InvalidWebhook`` (field ``url``) otherwise."""
    parts = _parts(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise InvalidWebhook("url", f"host {host!r} does not resolve ({exc})") from None
    addresses = [str(info[4][0]) for info in found]
    if not allow_private():
        for address in addresses:
            why = refusal(ipaddress.ip_address(address.split("%")[0]))
            if why:
                # One refused address refuses the name: which one a connection would take is not ours to pick.
                raise InvalidWebhook("url", f"{host} resolves to {address}, a {why} address: refused in production "
                                            "(JOBS['WEBHOOK_ALLOW_PRIVATE'])")
    path = parts.path or "/"
    return Target(parts.scheme, host, port, f"{path}?{parts.query}" if parts.query else path, addresses[0])


def _events(events: object) -> list[str]:
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise InvalidWebhook("events", f"must be a non-empty list of: {', '.join(EVENTS)}")
    unknown = sorted(set(events) - set(EVENTS))
    if unknown:
        raise InvalidWebhook("events", f"unknown event {unknown[0]!r}; one of: {', '.join(EVENTS)}")
    return [e for e in EVENTS if e in events]


class Invalid(ValueError):
    """Every problem of one request (``errors``: field, message), so a client fixes them in one go."""

    def __init__(self, errors: Iterable[InvalidWebhook]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(str(e) for e in self.errors))


def create(tenant: Tenant, url: object, events: object) -> tuple[Webhook, str]:
    """A new active endpoint of ``tenant`` and its signing secret (to be shown once)."""
    problems: list[InvalidWebhook] = []
    chosen: list[str] = []
    try:
        resolve(url)
    except InvalidWebhook as exc:
        problems.append(exc)
    try:
        chosen = _events(events)
    except InvalidWebhook as exc:
        problems.append(exc)
    if problems:
        raise Invalid(problems)
    secret = "whsec_" + secrets.token_hex(32)
    with transaction.atomic():
        # The tenant's row lock orders concurrent creations, so the cap holds.
        Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
        if Webhook.objects.filter(tenant_id=tenant.pk).count() >= MAX_PER_TENANT:
            raise Invalid([InvalidWebhook("url", f"a tenant may have at most {MAX_PER_TENANT} endpoints")])
        hook = Webhook.objects.create(tenant=tenant, url=str(url), events=chosen, secret=secret)
        audit.record("webhook.create", target=f"webhook {hook.pk}", tenant=tenant.pk, ids=[hook.pk],
                     detail={"url": hook.url, "events": chosen})
        transaction.on_commit(subscriptions.forget)
    return hook, secret


def of_tenants(tenant_ids: list[int] | None) -> "list[Webhook]":
    """The endpoints of these tenants (``None``: every tenant), oldest first."""
    rows = Webhook.objects.select_related("tenant")
    return list(rows if tenant_ids is None else rows.filter(tenant_id__in=tenant_ids))


def find(pk: int, tenant_ids: list[int] | None) -> Webhook | None:
    """Endpoint ``pk`` if one of these tenants has it (another tenant's is as absent as a missing one)."""
    rows = Webhook.objects.select_related("tenant").filter(pk=pk)
    return (rows if tenant_ids is None else rows.filter(tenant_id__in=tenant_ids)).first()


def delete(hook: Webhook) -> None:
    """Delete ``hook``: its queued deliveries find it gone and end without sending."""
    with transaction.atomic():
        audit.record("webhook.delete", target=f"webhook {hook.pk}", tenant=hook.tenant_id, ids=[hook.pk],
                     detail={"url": hook.url, "events": hook.events})
        hook.delete()
        transaction.on_commit(subscriptions.forget)


def forget_subscriptions() -> None:
    """An endpoint was switched on or off outside this module (the admin): re-read who subscribes once it commits."""
    transaction.on_commit(subscriptions.forget)


def deliveries(hook: Webhook, *, limit: int = 20) -> list[Task]:
    """The endpoint's latest delivery tasks, newest first, among its tenant's newest ``scan.SCAN_ROWS`` tasks."""
    base = Task.objects.filter(tenant_id=hook.tenant_id)
    rows, _ = scan.keyset(base, base.filter(type=DELIVERY_TYPE, concurrency_key=hook.concurrency_key), size=limit)
    return rows
