"""The overview page and its live fragments (the SSE stream's fallback when it is unavailable)."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.safestring import mark_safe

from jobs.services import listing

from .. import access, healthpanel, live, workerspanel
from .common import fragment


@access.page(*access.VIEW_TASKS)
def overview(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/overview.html", {
        "section": "overview",
        "title": "Overview",
        "sse_url": live.SSE_URL,
        "feed_limit": live.FEED_LIMIT,
        # Our own templates, autoescaped: the same fragments the SSE stream pushes.
        "health_html": mark_safe(healthpanel.render_health()),  # noqa: S308
        "counters_html": mark_safe(live.render_counters()),  # noqa: S308
        "workers_html": mark_safe(workerspanel.render_workers()),  # noqa: S308
        "feed_html": mark_safe(live.render_feed(live.recent_changes())),  # noqa: S308
        "chart_html": mark_safe(live.render_chart()),  # noqa: S308
    })


@access.page(*access.VIEW_TASKS)
def live_health(request: HttpRequest) -> HttpResponse:
    return fragment(healthpanel.render_health())


@access.page(*access.VIEW_TASKS)
def live_counters(request: HttpRequest) -> HttpResponse:
    return fragment(live.render_counters())


@access.page(*access.VIEW_TASKS)
def live_workers(request: HttpRequest) -> HttpResponse:
    return fragment(workerspanel.render_workers())


@access.page(*access.VIEW_TASKS)
def live_feed(request: HttpRequest) -> HttpResponse:
    """Feed rows newer than event ``?after=`` (the newest ``FEED_LIMIT`` without it)."""
    return fragment(live.render_feed(live.recent_changes(after=listing.int_or_none(request.GET.get("after")))))


@access.page(*access.VIEW_TASKS)
def live_chart(request: HttpRequest) -> HttpResponse:
    return fragment(live.render_chart())
