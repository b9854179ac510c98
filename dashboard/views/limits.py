"""The Limits page: what holds work back now (tenant caps, concurrency keys, resources). Read-only."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.safestring import mark_safe

from .. import access, limitspanel, live
from .common import fragment

#: The stream's panels for this page (``dashboard.stream``): only the limits tables.
SSE_URL = f"{live.SSE_URL}?panels=limits"


@access.page(*access.VIEW_TASKS)
def limits_page(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/limits.html", {
        "section": "limits", "title": "Limits", "sse_url": SSE_URL,
        # Our own template, autoescaped: the same fragment the SSE stream pushes.
        "limits_html": mark_safe(limitspanel.render_limits()),  # noqa: S308
    })


@access.page(*access.VIEW_TASKS)
def live_limits(request: HttpRequest) -> HttpResponse:
    """The polling fallback's fragment (the page's script fetches it when the stream is down)."""
    return fragment(limitspanel.render_limits())
