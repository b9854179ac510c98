"""API keys: issue, verify, revoke. Keys are stored as a lookup prefix plus a SHA-256 hash.

A key is ``jek_<prefix>_<secret>``: the prefix finds the row with one indexed lookup,
the secret (256 random bits, so a fast hash suffices) is compared in constant time.
Verified keys are cached per process for a few seconds so a request does not always
cost a query; revocation therefore takes effect within ``API_KEY_CACHE_SECONDS``.
:func:`key_from_headers` is the one check of a request's key, for the DRF API and the
event stream alike.

A verification carries what a request needs of its tenant (the same row, read with the key):
its rate limit, its queues, its backlog caps; and ``memo``, where the layers above keep what
they derive from it (the engine: the tenant's type grants). All of it lives and dies with the
verification: at most ``API_KEY_CACHE_SECONDS`` across processes, and dropped in this process
by every change of a key, a tenant (``tenants.changes``) or a grant (``forget()``).
"""

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from . import signals
from .conf import conf
from .models import ApiKey, Tenant

SCHEME = "jek"
#: Issuing an operator key (reads and acts on every tenant) needs this, not just add_apikey.
OPERATOR_PERMISSION = "tenants.issue_operator_key"
#: last_used_at is written at most this often per key (not once per request).
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class VerifiedKey:
    key_id: int
    prefix: str
    tenant_id: int
    tenant_slug: str
    rate_limit: int | None
    rate_window: int | None
    is_operator: bool
    #: ``Tenant.allowed_queues`` as stored (empty: the default, its slug and 'default').
    allowed_queues: tuple[str, ...] = ()
    max_pending: int | None = None
    max_pending_age: int | None = None
    #: What the layers above derive from this verification, by their own names; dropped with it.
    memo: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)


_cache: dict[str, tuple[float, str, VerifiedKey]] = {}
_last_used_written: dict[int, float] = {}
_lock = threading.Lock()


def hash_secret(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def new_secret() -> tuple[str, str]:
    """A fresh (prefix, full key) pair."""
    prefix = secrets.token_hex(6)
    return prefix, f"{SCHEME}_{prefix}_{secrets.token_urlsafe(32)}"


def issue(tenant: Tenant, *, name: str = "", operator: bool = False) -> tuple[ApiKey, str]:
    """Create a key for ``tenant`` (``key.issue`` in the audit log); return it and the full secret (never stored)."""
    key = ApiKey(tenant=tenant, name=name, is_operator=operator)
    return key, save_new(key)


def save_new(key: ApiKey) -> str:
    """Give the unsaved ``key`` a fresh secret, save it and record ``key.issue``; return the secret."""
    key.prefix, raw = new_secret()
    key.hashed = hash_secret(raw)
    with transaction.atomic():
        key.save(force_insert=True)
        signals.send("key.issue", target=f"key {key.prefix}", tenant=key.tenant_id, ids=[key.pk],
                     detail={"name": key.name, "operator": key.is_operator})
    return raw


def _prefix_of(raw: str) -> str | None:
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != SCHEME or not parts[1] or not parts[2] or len(parts[1]) > 16:
        return None
    return parts[1]


def verify(raw: str) -> VerifiedKey | None:
    """Return the key ``raw`` names if it is valid and not revoked.

    Raises :class:`InactiveTenant` for a valid key of an inactive tenant (checked after the secret,
    so only the key's holder learns it); such keys are not cached, so reactivation applies at once.
    """
    prefix = _prefix_of(raw.strip())
    if prefix is None:
        return None
    digest = hash_secret(raw.strip())
    now = time.monotonic()
    with _lock:
        cached = _cache.get(prefix)
    if cached and cached[0] > now:
        return cached[2] if hmac.compare_digest(cached[1], digest) else None
    key = ApiKey.objects.filter(revoked_at__isnull=True, prefix=prefix).select_related("tenant").first()
    if key is None or not hmac.compare_digest(key.hashed, digest):
        return None
    if not key.tenant.active:
        raise InactiveTenant("tenant is inactive")
    tenant = key.tenant
    queues = tenant.allowed_queues
    verified = VerifiedKey(
        key_id=key.pk, prefix=key.prefix, tenant_id=key.tenant_id, tenant_slug=tenant.slug,
        rate_limit=tenant.rate_limit, rate_window=tenant.rate_window_seconds, is_operator=key.is_operator,
        allowed_queues=tuple(str(q) for q in queues) if isinstance(queues, list) else (),
        max_pending=tenant.max_pending, max_pending_age=tenant.max_pending_age_seconds,
    )
    with _lock:
        _cache[prefix] = (now + conf().API_KEY_CACHE_SECONDS, key.hashed, verified)
    return verified


class InvalidKey(Exception):
    """The request sent a key that is malformed, unknown or revoked."""


class InactiveTenant(InvalidKey):
    """The request sent a valid key whose tenant is inactive: known, but refused (403, not 401).

    A kind of :class:`InvalidKey`, so a caller that does not tell them apart still refuses it."""


def raw_key(headers: Mapping[str, str]) -> str | None:
    """The key a request sends: ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``.

    ``headers`` has lower-case names, or is case-insensitive (Django's ``request.headers``).
    """
    header = headers.get("x-api-key")
    if header:
        return header
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def key_from_headers(headers: Mapping[str, str]) -> VerifiedKey | None:
    """Verify the key a request sends and record its use; ``None`` if it sends none.

    Raises :class:`InvalidKey` for a key that does not verify, :class:`InactiveTenant` for a valid
    key of an inactive tenant. Queries the database: call
    it from synchronous code (``database_sync_to_async`` in a consumer).
    """
    raw = raw_key(headers)
    if raw is None:
        return None
    verified = verify(raw)
    if verified is None:
        raise InvalidKey("Invalid or revoked API key.")
    touch(verified)
    return verified


def touch(verified: VerifiedKey) -> None:
    """Record use, at most once a minute per key and process (no write per request)."""
    now = time.monotonic()
    with _lock:
        if now - _last_used_written.get(verified.key_id, -1e9) < LAST_USED_RESOLUTION.total_seconds():
            return
        _last_used_written[verified.key_id] = now
    moment = timezone.now()
    ApiKey.objects.filter(pk=verified.key_id).exclude(last_used_at__gt=moment - LAST_USED_RESOLUTION).update(
        last_used_at=moment
    )


def revoke(key: ApiKey) -> bool:
    """Revoke ``key`` and record ``key.revoke``; False (nothing recorded) if it was revoked already."""
    with transaction.atomic():
        revoked = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        if revoked:
            signals.send("key.revoke", target=f"key {key.prefix}", tenant=key.tenant_id, ids=[key.pk],
                         detail={"name": key.name, "operator": key.is_operator})
        # Now (this process stops trusting it) and after the commit: a verification in between would
        # cache the key as still valid.
        forget(key.prefix)
        transaction.on_commit(lambda: forget(key.prefix))
    return bool(revoked)


def forget(prefix: str | None = None) -> None:
    """Drop cached verifications (one key, or all)."""
    with _lock:
        if prefix is None:
            _cache.clear()
        else:
            _cache.pop(prefix, None)


def reset() -> None:
    """Clear this process's caches (verified keys, last-use marks); used by tests and after settings change."""
    with _lock:
        _cache.clear()
        _last_used_written.clear()
