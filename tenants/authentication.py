"""Authentication by API key: ``X-API-Key: <key>`` or ``Authorization: Bearer <key>`` (DRF, and the API stream)."""

from typing import Any

from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied
from rest_framework.request import Request

from jobs import actor

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


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[ApiClient, keys.VerifiedKey] | None:
        try:
            verified = keys.key_from_headers(request.headers)
        except keys.InactiveTenant as exc:
            # The caller is known, so 401 (send other credentials) would mislead: it is refused.
            raise PermissionDenied(str(exc)) from None
        except keys.InvalidKey as exc:
            raise AuthenticationFailed(str(exc)) from None
        if verified is None:
            return None
        act_as(verified)
        return ApiClient(verified), verified

    def authenticate_header(self, request: Any) -> str:
        # Makes DRF answer 401 (not 403) to a request without credentials.
        return 'Bearer realm="api"'


def act_as(verified: keys.VerifiedKey) -> None:
    """The rest of this request acts as the key (the audit log's actor), from the address the request came from.

    Set, not entered: the request's own ``acting()`` block (``engine_site.actors.ActorMiddleware``) resets
    the actor when the request ends, so the key never reaches the next request on this thread.
    """
    here = actor.current()
    actor.assume(actor.key(verified.prefix, address=here.address if here.source == "api" else ""))
