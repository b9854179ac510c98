"""Who is acting (``jobs.actor``), for the audit log: every console, admin and API request runs as its caller.

The console and the admin act as the logged-in user; an API request acts as its key once the API has
verified it (``tenants.authentication``) — until then, and for a request that never verifies, as an
anonymous caller of the API. The actor is reset when the request ends, whatever the view set.
"""

from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase

from jobs import actor

from .clientip import client_ip

API_PREFIX = "/api/"
ADMIN_PREFIX = "/admin/"


def _source(request: HttpRequest) -> str:
    path = request.path_info
    return "api" if path.startswith(API_PREFIX) else "admin" if path.startswith(ADMIN_PREFIX) else "console"


def request_actor(request: HttpRequest, user: Any) -> actor.Actor:
    """The actor of a console or admin request (``user``: its session's user), or of an API request before its key."""
    source, address = _source(request), client_ip(request)
    if source == "api":
        return actor.Actor("key", "", "api", address or "")
    name = user.get_username() if user is not None and user.is_authenticated else "anonymous"
    return actor.user(name, source=source, address=address)


class ActorMiddleware:
    """Wraps each request in ``acting(its actor)``; after AuthenticationMiddleware (it reads the session's user)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        # The API never reads the session: its caller is its key.
        user = None if _source(request) == "api" else request.user
        with actor.acting(request_actor(request, user)):
            return self.get_response(request)

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        user = None if _source(request) == "api" else await request.auser()
        with actor.acting(request_actor(request, user)):
            return await self.get_response(request)
