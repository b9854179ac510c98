"""The Queues page's live table: depth and oldest waiting age per queue and per type, with pauses.

``render_queues() -> str`` follows ``dashboard.live``'s contract (one line of HTML, no request,
bounded queries: ``jobs.services.queues``); the SSE stream sends it as the ``queues`` event to
the Queues page, and the page includes it on first load.
"""

from typing import Any

from django.template.loader import render_to_string

from jobs.lifecycle import Status
from jobs.services import queues

from . import formatting
from .live import one_line


def _row(kind: str, d: queues.Depth, result: queues.Depths) -> dict[str, Any]:
    age = d.age(result.now)
    lower = any(d.counts[s] and s in result.truncated for s in d.counts)
    return {
        "kind": kind, "name": d.name, "depth": d.depth, "lower_bound": lower,
        "pending": d.counts[Status.PENDING], "scheduled": d.counts[Status.SCHEDULED],
        "blocked": d.counts[Status.BLOCKED],
        "age": formatting.duration_ms(age.total_seconds() * 1000) if age is not None else "—",
        "pause": d.pause,
    }


def queues_context(*, can_act: bool = False) -> dict[str, Any]:
    result = queues.depths()
    return {
        "queue_rows": [_row("queue", d, result) for d in result.queues],
        "type_rows": [_row("type", d, result) for d in result.types],
        "totals": result.totals, "truncated": sorted(result.truncated), "sample": result.sample,
        "can_act": can_act,
    }


def render_queues() -> str:
    """With the Pause/Resume buttons (the stream picks by the user's permission; each POST checks it too)."""
    return one_line(render_to_string("dashboard/live/_queues.html", queues_context(can_act=True)))


def render_queues_readonly() -> str:
    return one_line(render_to_string("dashboard/live/_queues.html", queues_context(can_act=False)))
