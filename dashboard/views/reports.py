"""Analytics and task types: rollups and index ranges only (no scan of the task table)."""

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from jobs.lifecycle import Status
from jobs.services import analytics, listing
from tenants.models import Tenant

from .. import access, charts, formatting, live

#: Throughput windows offered on the analytics page: seconds → (seconds per column, label).
WINDOWS = {3600: (60, "Last hour"), 6 * 3600: (300, "Last 6 hours"), 24 * 3600: (1200, "Last 24 hours")}
#: Types failing more than this share of their attempts are highlighted.
HIGH_FAILURE = 0.25
STATUS_CSS = {s: f"s-{s}" for s in Status.values}


def _scope(request: HttpRequest) -> tuple[list[Tenant], Tenant | None]:
    tenants = list(Tenant.objects.order_by("slug"))
    chosen = next((t for t in tenants if t.slug == request.GET.get("tenant")), None)
    return tenants, chosen


def _fairness_row(r: dict[str, Any]) -> charts.Row:
    done, weight = r["completed_share"], r["weight_share"]
    return charts.Row(r["tenant"].slug, [
        charts.Bar([(done, "s-completed", f"Share of completed: {formatting.percent(done)}")],
                   f"{formatting.percent(done)} of completed", "completed"),
        charts.Bar([(weight or 0.0, "s-weight", f"Share of weight: {formatting.percent(weight)}")],
                   f"{formatting.percent(weight)} of weight", "weight"),
    ])


def _fairness(seconds: int, label: str) -> dict[str, Any]:
    report = analytics.fairness(seconds=seconds)
    chart_rows = [_fairness_row(r) for r in report["rows"] if r["contending"]][:30]
    desc = "; ".join(f"{r.label}: {r.bars[0].text}, {r.bars[1].text}" for r in chart_rows) or "No tenant activity."
    chart = charts.hbars(chart_rows, chart_id="fairness-chart", scale_max=1.0, desc=desc, width=900,
                         label_width=170, value_width=170,
                         title=f"Per tenant: share of tasks completed ({label.lower()}) vs share of weight")
    return {**report, "chart": chart}


def _durations_chart(win: dict[str, Any], label: str) -> str:
    ms = formatting.duration_ms
    rows = [
        charts.Row(name, [
            charts.Bar([(win[f"avg_{key}_ms"] or 0, f"s-{css}", "average")], f"avg {ms(win[f'avg_{key}_ms'])}"),
            charts.Bar([(win[f"p95_{key}_ms"] or 0, f"s-{css}-p95", "p95")], f"p95 {ms(win[f'p95_{key}_ms'])}"),
        ])
        for name, key, css in (("Queue wait", "queue_wait", "wait"), ("Execution", "execution", "exec"))
    ]
    return charts.hbars(
        rows, chart_id="durations-chart", title=f"Queue wait vs execution time (average and p95, {label.lower()})",
        desc=(f"Queue wait: average {ms(win['avg_queue_wait_ms'])}, p95 {ms(win['p95_queue_wait_ms'])}. "
              f"Execution: average {ms(win['avg_execution_ms'])}, p95 {ms(win['p95_execution_ms'])}."),
    )


@access.page(*access.VIEW_TASKS)
def analytics_page(request: HttpRequest) -> HttpResponse:
    """Every figure of the page over one labelled window (the chosen one), beside its all-time twin where
    the rollups keep one: counts, rates, averages and p95s never mix windows."""
    tenants, chosen = _scope(request)
    tenant_ids = [chosen.pk] if chosen else None
    requested = listing.int_or_none(request.GET.get("window"))
    window = requested if requested in WINDOWS else 3600
    bucket, window_label = WINDOWS[window]
    ov = analytics.overview(tenant_ids, seconds=window)
    win = ov["window"]
    throughput = live.chart_context(window, bucket, tenant_ids=tenant_ids, chart_id="throughput-chart", width=1200,
                                    title=f"Tasks finished per {formatting.duration_ms(bucket * 1000)}, "
                                          f"{window_label.lower()}")
    total = ov["total"] or 0
    status_rows = [
        charts.Row(s.capitalize(), [charts.Bar([(n, STATUS_CSS[s], s)], f"{formatting.number(n)} "
                                               f"({formatting.percent(n / total if total else 0)})")])
        for s, n in ov["by_status"].items()
    ]
    status_chart = charts.hbars(status_rows, chart_id="status-chart",
                                title="Tasks by status (unfinished: now; finished: all time)",
                                desc="; ".join(f"{r.label}: {r.bars[0].text}" for r in status_rows))
    priority_rows = [
        charts.Row(f"Priority {p}", [charts.Bar([(ov["by_priority"].get(str(p), 0), "s-priority", f"priority {p}")],
                                                formatting.number(ov["by_priority"].get(str(p), 0)))])
        for p in range(5, 0, -1)
    ]
    priority_chart = charts.hbars(priority_rows, chart_id="priority-chart", title="Tasks by priority (5 most urgent)",
                                  desc="; ".join(f"{r.label}: {r.bars[0].text}" for r in priority_rows))
    return render(request, "dashboard/analytics.html", {
        "section": "analytics", "title": "Analytics", "tenants": tenants, "chosen": chosen, "ov": ov, "win": win,
        "window": window, "window_label": window_label, "throughput": throughput,
        "windows": [(w, label) for w, (_, label) in WINDOWS.items()],
        "durations_chart": _durations_chart(win, window_label), "status_chart": status_chart,
        "priority_chart": priority_chart,
        "status_rows": [(s, n, n / total if total else 0, win.get(s)) for s, n in ov["by_status"].items()],
        "fairness": _fairness(window, window_label), "sample": analytics.P95_SAMPLE,
    })


@access.page(*access.VIEW_TASKS)
def types_page(request: HttpRequest) -> HttpResponse:
    tenants, chosen = _scope(request)
    rows = analytics.by_type([chosen.pk] if chosen else None)
    for row in rows:
        row["high"] = row["attempt_failure_rate"] > HIGH_FAILURE
        c = row["by_status"]
        row["waiting"] = c[Status.PENDING] + c[Status.SCHEDULED]
    chart_rows = []
    for row in rows:
        c = row["by_status"]
        segments = [(c[Status.COMPLETED], "s-completed", f"completed {formatting.number(c[Status.COMPLETED])}"),
                    (c[Status.FAILED], "s-failed", f"failed {formatting.number(c[Status.FAILED])}"),
                    (c[Status.CANCELLED], "s-cancelled", f"cancelled {formatting.number(c[Status.CANCELLED])}"),
                    (c[Status.RUNNING], "s-running", f"running {formatting.number(c[Status.RUNNING])}"),
                    (row["waiting"], "s-pending", f"waiting {formatting.number(row['waiting'])}")]
        text = (f"{formatting.number(row['total'])} · {formatting.percent(row['attempt_failure_rate'])} of attempts "
                f"failed · {formatting.percent(row['dead_letter_rate'])} dead-lettered")
        chart_rows.append(charts.Row(row["type"], [charts.Bar(segments, text + (" ⚠" if row["high"] else ""))],
                                     css="alert" if row["high"] else ""))
    series = [charts.Series("completed", "Completed", "s-completed"),
              charts.Series("failed", "Failed (dead letter)", "s-failed"),
              charts.Series("cancelled", "Cancelled", "s-cancelled"), charts.Series("running", "Running", "s-running"),
              charts.Series("waiting", "Waiting", "s-pending")]
    chart = charts.hbars(chart_rows, chart_id="types-chart", title="Tasks per type by status", width=1000,
                         label_width=170, value_width=340,
                         desc="; ".join(f"{r.label}: {r.bars[0].text}" for r in chart_rows) or "No tasks yet.")
    return render(request, "dashboard/types.html", {
        "section": "types", "title": "Task types", "tenants": tenants, "chosen": chosen, "rows": rows,
        "chart": chart, "legend": charts.legend(series), "threshold": HIGH_FAILURE,
    })
