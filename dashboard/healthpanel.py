"""The overview's health verdict (``jobs.services.health``) as a live fragment, every number a link to its tasks.

``render_health() -> str`` follows ``dashboard.live``'s contract (one line of HTML, no request,
bounded queries); the SSE stream sends it as the ``health`` event, at the workers' pace (a
heartbeat going stale changes it without any task event).
"""

from typing import Any

from django.template.loader import render_to_string

from jobs.lifecycle import Status
from jobs.services import health

from . import formatting
from .live import one_line, tasks_url

VERDICT_LABELS = {health.OK: "OK", health.DEGRADED: "Degraded", health.DOWN: "Down"}


def health_context() -> dict[str, Any]:
    h = health.assess()
    saturation = h.saturation
    return {
        "health": h,
        "label": VERDICT_LABELS[h.verdict],
        "reasons": [{"code": r.code, "level": r.level, "message": r.message,
                     "url": tasks_url(**r.filters) if r.filters else None} for r in h.reasons],
        "saturation": formatting.percent(saturation) if saturation is not None else "—",
        "running_url": tasks_url(status=Status.RUNNING),
        "queues": [{"name": q.name, "depth": q.depth, "pending": q.pending, "served": q.served,
                    "lower_bound": q.lower_bound,
                    "wait": formatting.duration_ms(q.oldest_wait * 1000) if q.oldest_wait is not None else "—",
                    "slow": q.oldest_wait is not None and q.oldest_wait > health.WAIT_DEGRADED_SECONDS,
                    "url": tasks_url(queue=q.name, status=Status.PENDING),
                    "all_url": tasks_url(queue=q.name)} for q in h.queues],
        "dead_letter_url": tasks_url(status=Status.FAILED),
        "retrying_url": tasks_url(status=Status.SCHEDULED, retrying="yes"),
        "next_retry": h.next_retry,
        "wait_limit": formatting.duration_ms(health.WAIT_DEGRADED_SECONDS * 1000),
    }


def render_health() -> str:
    return one_line(render_to_string("dashboard/live/_health.html", health_context()))
