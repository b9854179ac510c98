"""The Limits page's live tables: tenant caps, concurrency keys with their holders, resources with tokens.

``render_limits() -> str`` follows ``dashboard.live``'s contract (one line of HTML, no request,
bounded queries: ``jobs.services.limits``); the SSE stream sends it as the ``limits`` event to
the Limits page, and the page includes it on first load. The page has no buttons, so every
viewer gets the same fragment (one shared snapshot per process).
"""

from typing import Any

from django.template.loader import render_to_string

from jobs.services import limits

from . import formatting
from .live import one_line


def _resource_row(t: limits.Throttle, result: limits.Limits) -> dict[str, Any]:
    s = t.state
    r = s.resource
    return {
        "name": r.name, "rate": r.rate, "per": formatting.duration_ms(r.per_seconds * 1000),
        "per_tenant": r.per_tenant, "available": s.available, "next_at": s.next_at,
        "next_in": formatting.duration_ms((s.next_at - result.now).total_seconds() * 1000) if s.next_at else None,
        "buckets": s.buckets, "exhausted": s.exhausted, "waiting": t.waiting,
    }


def limits_context() -> dict[str, Any]:
    result = limits.overview()
    return {
        "caps": result.caps, "caps_cut": result.caps_cut, "tenants_shown": limits.TENANTS,
        "keys": result.keys, "keys_cut": result.keys_cut, "keys_shown": result.keys_shown,
        "holders_shown": limits.HOLDERS,
        "resources": [_resource_row(t, result) for t in result.resources], "sampled": result.sampled,
        "sample": limits.SAMPLE,
    }


def render_limits() -> str:
    return one_line(render_to_string("dashboard/live/_limits.html", limits_context()))
