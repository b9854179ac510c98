"""The overview's live fragments: HTML rendered on the server, pushed over SSE, included on first load.

Contract (used by the SSE endpoint ``/console/events``, which sends each result as the
data of an event of the same name: ``counters``, ``workers``, ``feed``, ``chart``):

* ``render_counters() -> str``: the counters panel (inner HTML of ``#live-counters``).
* ``render_workers() -> str`` (``dashboard.workerspanel``): live worker processes by instance, their slots.
* ``render_feed(changes) -> str``: ``<li>`` rows, newest first (at most ``FEED_LIMIT``), for a
  batch of changes like ``{"seq": 12, "tenant": "acme", "event": "task.completed", "task": 42,
  "type": "noop", "status": "completed", "attempt": 1, "error": "…"}``; the page prepends them.
* ``render_chart() -> str``: the throughput chart of the last ``CHART_WINDOW`` seconds.

Each function is synchronous (call it through ``sync_to_async`` from async code), needs no
request, queries only rollups, the worker registry and index ranges, and returns a single
line of HTML (no newline), so it fits one SSE ``data:`` field as is.
"""

import re
from collections.abc import Iterable, Mapping
from typing import Any

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import urlencode

from jobs import shapes
from jobs.lifecycle import WAITING, Status
from jobs.lifecycle import Event as TaskEvent
from jobs.models import Event, Task
from jobs.services import analytics, health, listing, why
from tenants.models import Tenant

from . import charts, formatting

#: The SSE endpoint the overview connects to.
SSE_URL = "/console/events"
#: Rows kept in the event feed.
FEED_LIMIT = 50
#: The overview chart: seconds covered and seconds per column.
CHART_WINDOW = 15 * 60
CHART_BUCKET = 30

#: The feed's badge per event name: ``task.cancel_requested`` → "cancel requested".
EVENT_LABELS = {e.value: e.short.replace("_", " ") for e in TaskEvent}

STATUS_SERIES = [
    charts.Series(Status.COMPLETED, "Completed", "s-completed"),
    charts.Series(Status.FAILED, "Failed", "s-failed"),
    charts.Series(Status.CANCELLED, "Cancelled", "s-cancelled"),
]


def one_line(html: str) -> str:
    """Fold newlines (and the indentation around them) into single spaces."""
    return re.sub(r"\s*\n\s*", " ", html).strip()


# --------------------------------------------------------------------------- counters


def tasks_url(**filters: str) -> str:
    """The task list filtered by ``filters`` (its own query parameters): where a counter links."""
    return f"{reverse('dashboard:tasks')}?{urlencode(filters)}" if filters else reverse("dashboard:tasks")


def counters_context(tenant_ids: list[int] | None = None, links: dict[str, str] | None = None) -> dict[str, Any]:
    """The counters (of ``tenant_ids``, else every tenant); ``links``: filters every counter's link adds."""
    links = links or {}
    ov = analytics.overview(tenant_ids)
    win = ov["window"]  # averages and p95s over the same hour, never an all-time average beside a recent p95
    minute = analytics.throughput(tenant_ids, window=60, bucket=60)
    per_minute = sum(p["completed"] for p in minute)
    failed_minute = sum(p["failed"] for p in minute)
    by_status = ov["by_status"]
    items = [
        {"key": s, "label": s.capitalize(), "value": formatting.number(by_status[s]), "raw": by_status[s],
         "hint": "now" if s in analytics.LIVE else "all time", "url": tasks_url(**links, status=s)}
        for s in Status.values
    ]
    # Retrying apart from scheduled: the back-offs among the scheduled tasks (a delay is not a retry).
    scope = None if tenant_ids is None else Task.objects.filter(tenant_id__in=tenant_ids)
    retrying, more = listing.bounded_count(health.retrying(scope), health.RETRYING_CAP)
    after = [i["key"] for i in items].index(Status.SCHEDULED) + 1
    items.insert(after, {"key": "retrying", "label": "Retrying", "raw": retrying,
                         "value": formatting.number(retrying) + ("+" if more else ""),
                         "hint": "of the scheduled: back-off after a failed run",
                         "url": tasks_url(**links, status=Status.SCHEDULED, retrying="yes")})
    items += [
        {"key": "throughput", "label": "Throughput", "value": f"{formatting.number(per_minute)}/min",
         "raw": per_minute, "hint": f"completed in the last minute ({formatting.number(failed_minute)} failed)"},
        {"key": "failure_rate", "label": "Dead-letter rate", "value": formatting.percent(ov["failure_rate"]),
         "raw": ov["failure_rate"], "hint": "dead-lettered / finished, all time"},
        {"key": "attempt_failure_rate", "label": "Failed attempts",
         "value": formatting.percent(win["attempt_failure_rate"]), "raw": win["attempt_failure_rate"],
         "hint": f"last hour: {formatting.number(win['failed_attempts'])} of "
                 f"{formatting.number(win['attempts'])} runs"},
        {"key": "queue_wait", "label": "Avg queue wait", "value": formatting.duration_ms(win["avg_queue_wait_ms"]),
         "raw": win["avg_queue_wait_ms"],
         "hint": f"last hour, from when due · p95 {formatting.duration_ms(win['p95_queue_wait_ms'])}"},
        {"key": "execution", "label": "Avg execution", "value": formatting.duration_ms(win["avg_execution_ms"]),
         "raw": win["avg_execution_ms"], "hint": f"last hour · p95 {formatting.duration_ms(win['p95_execution_ms'])}"},
    ]
    waiting = sum(by_status[s] for s in WAITING)
    # Only when something waits: the tally is one count per reason over the waiting statuses.
    reasons = why.count_by_reason(None if tenant_ids is None else Task.objects.filter(tenant_id__in=tenant_ids)) \
        if waiting else {}
    return {"counters": items, "overview": ov, "per_minute": per_minute, "generated_at": timezone.now(),
            "reasons": [{"code": code, "label": code.replace("_", " "), "value": formatting.number(n), "raw": n}
                        for code, n in reasons.items() if n]}


def render_counters() -> str:
    return one_line(render_to_string("dashboard/live/_counters.html", counters_context()))


# --------------------------------------------------------------------------- feed


def _error_text(value: Any) -> str:
    if value is None or value == "":
        return ""
    text = shapes.error_text(value) if isinstance(value, Mapping) else str(value)
    return text if len(text) <= 300 else text[:299] + "…"


def feed_row(change: Mapping[str, Any]) -> dict[str, Any]:
    event = str(change.get("event") or "")
    task_id = change.get("task")
    at = change.get("at")
    moment = (parse_datetime(at) if isinstance(at, str) else at) or timezone.now()
    try:
        url = reverse("dashboard:task", args=[int(task_id)]) if task_id is not None else None
    except (TypeError, ValueError):
        url = None
    status = str(change.get("status") or "")
    return {
        "seq": change.get("seq"),
        "tenant": change.get("tenant") or change.get("tenant_id") or "",
        "event": event,
        "label": EVENT_LABELS.get(event, event) or status,
        "task": task_id,
        "url": url,
        "type": change.get("type") or "",
        "status": status,
        "css": f"s-{status}" if status in Status.values else "",
        "attempt": change.get("attempt"),
        "error": _error_text(change.get("error")),
        "at": moment,
    }


def _seq(change: Mapping[str, Any]) -> int:
    try:
        return int(change.get("seq") or 0)
    except (TypeError, ValueError):
        return 0


def render_feed(changes: Iterable[Mapping[str, Any]]) -> str:
    """Rows newest first: by ``seq``, and within one ``seq`` (one outbox row) later changes first."""
    indexed = sorted(enumerate(changes), key=lambda ic: (_seq(ic[1]), ic[0]), reverse=True)
    ordered = [change for _, change in indexed[:FEED_LIMIT]]
    if not ordered:
        return ""
    return one_line(render_to_string("dashboard/live/_feed_rows.html", {"rows": [feed_row(c) for c in ordered]}))


def recent_changes(after: int | None = None, limit: int = FEED_LIMIT) -> list[dict[str, Any]]:
    """The latest ``limit`` changes from the event outbox (newer than event ``after``), oldest first."""
    qs = Event.objects.order_by("-id")
    if after is not None:
        qs = qs.filter(pk__gt=after)
    events = list(qs[:limit])
    slugs = dict(Tenant.objects.filter(pk__in={e.tenant_id for e in events}).values_list("pk", "slug"))
    out: list[dict[str, Any]] = []
    for event in events:
        for change in reversed(event.changes or []):
            if not isinstance(change, dict):
                continue
            out.append({**change, "seq": event.pk, "tenant": slugs.get(event.tenant_id, event.tenant_id),
                        "at": event.created_at})
            if len(out) >= limit:
                return out[::-1]
    return out[::-1]


# --------------------------------------------------------------------------- chart


def chart_context(window: int = CHART_WINDOW, bucket: int = CHART_BUCKET, *, tenant_ids: list[int] | None = None,
                  chart_id: str = "live-chart-svg", title: str | None = None, width: int = 760) -> dict[str, Any]:
    points = analytics.throughput(tenant_ids, window=window, bucket=bucket)
    totals = {s.key: sum(int(p[s.key]) for p in points) for s in STATUS_SERIES}
    peak = max(points, key=lambda p: p["completed"] + p["failed"] + p["cancelled"], default=None)
    peak_total = (peak["completed"] + peak["failed"] + peak["cancelled"]) if peak else 0
    span = formatting.duration_ms(window * 1000)
    title = title or f"Tasks finished per {formatting.duration_ms(bucket * 1000)}, last {span}"
    summary = ", ".join(f"{formatting.number(totals[s.key])} {s.label.lower()}" for s in STATUS_SERIES)
    if peak_total:
        desc = (f"Over the last {span}: {summary}. Peak {formatting.number(peak_total)} at "
                f"{formatting.utc_text(peak['timestamp'] if peak else None, 'time')}.")
    else:
        desc = f"No tasks finished in the last {span}."
    svg = charts.stacked_columns(points, STATUS_SERIES, chart_id=chart_id, title=title, desc=desc,
                                 time_fmt="hm" if bucket >= 60 else "time", width=width)
    return {"svg": svg, "points": points, "totals": totals, "title": title, "desc": desc,
            "legend": charts.legend(STATUS_SERIES), "bucket": bucket, "window": window}


def render_chart() -> str:
    return one_line(render_to_string("dashboard/live/_chart.html", chart_context()))
