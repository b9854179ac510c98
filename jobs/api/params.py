"""Strict query strings: a query parameter the endpoint does not know is a 400 naming it, never ignored.

A misspelt filter (``?stauts=failed``) must not pass as absent: the client would read every task
as the answer to its question. Unknown body fields are refused the same way (``scope.body_fields``).

Every API view mixes in ``StrictQuery`` (a test walks the URL conf for it). What a view accepts is

- its filterset's fields (``filterset_class``: django-filter's ``base_filters``), on GET only;
- its list's parameters (``list_params``: paging, order and scope, ``jobs.api.views.paging``), on GET only;
- ``extra_query_params: tuple[str, ...]``: anything else it reads, on every method it serves
  (``all``; ``wait`` on the task detail; ``ids`` and ``expand`` on the task list …). A view that
  starts reading a new parameter adds it there, and documents it in its schema (a test compares
  the two: every documented parameter is accepted, and a GET accepts only documented ones).

The check runs after authentication and permissions (a caller without a valid key learns nothing
about parameters), before the handler. Every unknown name is listed at once, each with the closest
known one when there is one. ``unknown_params`` is the same check for callers outside DRF (the SSE
stream), which answer the same problem document.

Being every API view's base, the mixin also holds the two rules of how a problem is sent: as JSON
whatever the view's renderers (the schema's YAML, Swagger UI's HTML), and to a client whose
``Accept`` names only ``application/problem+json`` (rather than a 406).
"""

import difflib
from collections.abc import Iterable
from typing import Any

from rest_framework.exceptions import NotAcceptable
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from ..problems import CONTENT_TYPE
from .errors import Problem

#: Methods whose query string filters and pages what they read.
READS = {"GET", "HEAD"}


def hint(name: str, known: Iterable[str]) -> str:
    """The message for an unknown ``name``: the closest known parameter, else the list of them."""
    ordered = sorted(known)
    close = difflib.get_close_matches(name, ordered, n=1, cutoff=0.6)
    if close:
        return f"unknown query parameter; did you mean {close[0]!r}?"
    if not ordered:
        return "unknown query parameter; this endpoint takes none"
    return f"unknown query parameter; known: {', '.join(ordered)}"


def unknown_params(given: Iterable[str], known: Iterable[str]) -> list[dict[str, str]]:
    """``[{field, message}]`` for each name of ``given`` not in ``known`` (empty: all known)."""
    accepted = set(known)
    return [{"field": name, "message": hint(name, accepted)} for name in sorted(set(given) - accepted)]


class StrictQuery:
    """Mixed into every API view before ``APIView``: unknown query parameters are a 400."""

    #: Query parameters the view reads beyond its filterset and its list's (every method).
    extra_query_params: tuple[str, ...] = ()
    #: A list's paging, order and scope parameters (GET only).
    list_params: tuple[str, ...] = ()

    def accepted_query_params(self, method: str) -> set[str]:
        """The query parameters the view takes for ``method``."""
        names = set(self.extra_query_params)
        if method.upper() in READS:
            names.update(self.list_params)
            filterset = getattr(self, "filterset_class", None)
            if filterset is not None:
                names.update(filterset.base_filters)
        return names

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        errors = unknown_params(request.query_params, self.accepted_query_params(request.method or "GET"))
        if errors:
            raise Problem(400, "The request is invalid.", kind="validation", errors=errors)

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[BaseRenderer, str]:
        """A client asking for ``application/problem+json`` alone (to read errors) gets JSON, not a 406."""
        try:
            return super().perform_content_negotiation(request, force)  # type: ignore[misc]
        except NotAcceptable:
            if CONTENT_TYPE not in request.headers.get("Accept", ""):
                raise
            return super().perform_content_negotiation(request, force=True)  # type: ignore[misc]

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        """A problem is JSON whatever the view's renderers (the schema's YAML, the UI's HTML)."""
        if isinstance(response, Response) and response.content_type == CONTENT_TYPE:
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), CONTENT_TYPE
        return super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
