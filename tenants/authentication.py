"""DRF authentication by API key: ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``."""

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


def raw_key(request: Request) -> str | None:
    header = request.headers.get("X-API-Key")
    if header:
        return header
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[ApiClient, keys.VerifiedKey] | None:
        raw = raw_key(request)
        if raw is None:
            return None
        verified = keys.verify(raw)
        if verified is None:
            raise AuthenticationFailed("Invalid or revoked API key.")
        keys.touch(verified)
        return ApiClient(verified), verified

    def authenticate_header(self, request: Any) -> str:
        # Makes DRF answer 401 (not 403) to a request without credentials.
        return 'Bearer realm="api"'
