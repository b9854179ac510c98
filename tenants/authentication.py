"""Authentication by API key: ``X-API-Key: <key>`` or ``Authorization: Bearer <key>`` (DRF, and the API stream)."""

from collections.abc import Mapping
from typing import Any

from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from . import keys


class ApiClient:
    """The authenticated caller: a tenant, acting through one key."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False

    def __init__(self, key: keys.VerifiedKey) -> None:
        self.key = key
        self.tenant_id = key.tenant_id
        self.is_operator = key.is_operator

    def __str__(self) -> str:
        return f"{self.key.tenant_slug}:{self.key.prefix}"


def raw_key_from_headers(headers: Mapping[str, str]) -> str | None:
    """The key a request presents; ``headers`` by lower-case name (or case-insensitive, as Django's)."""
    header = headers.get("x-api-key")
    if header:
        return header
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def verify_raw_key(raw: str) -> keys.VerifiedKey | None:
    """The valid, unrevoked key ``raw`` names, its use recorded; None otherwise."""
    verified = keys.verify(raw)
    if verified is not None:
        keys.touch(verified)
    return verified


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[ApiClient, keys.VerifiedKey] | None:
        raw = raw_key_from_headers(request.headers)
        if raw is None:
            return None
        verified = verify_raw_key(raw)
        if verified is None:
            raise AuthenticationFailed("Invalid or revoked API key.")
        return ApiClient(verified), verified

    def authenticate_header(self, request: Any) -> str:
        # Makes DRF answer 401 (not 403) to a request without credentials.
        return 'Bearer realm="api"'
