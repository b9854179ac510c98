"""Helpers shared by the console's views."""

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme


def is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def htmx_target(request: HttpRequest) -> str | None:
    """The id of the element an htmx request will swap into (``None`` for a plain request)."""
    details: Any = getattr(request, "htmx", None)
    return details.target if details else None


def safe_next(request: HttpRequest, fallback: str) -> str:
    """``next`` from the form if it is a local URL, else ``fallback``."""
    url = request.POST.get("next") or request.GET.get("next")
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()},
                                               require_https=request.is_secure()):
        return url
    return fallback


def fragment(html: str) -> HttpResponse:
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    add_never_cache_headers(response)
    return response
