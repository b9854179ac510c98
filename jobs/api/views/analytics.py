"""Analytics: totals, throughput over time, per-type breakdown (rollups, never full scans).

Each request costs ``ANALYTICS_READ_COST`` against the key's read budget (``jobs.api.reads``).
"""


from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ...lifecycle import Status
from ...services import analytics
from .. import scope
from ..conf import api_conf
from ..errors import problem_responses
from ..params import StrictQuery
from ..reads import charge
from ..serializers import moment

ALL = OpenApiParameter("all", bool, description="Every tenant (operator keys only).")
STATUS_COUNTS = inline_serializer("StatusCounts", {s: serializers.IntegerField() for s in Status.values})
#: The seed's names for two of the overview's figures, served beside ours so that its clients (its
#: load-test tool polls ``total_tasks`` and ``status_counts``) work unchanged.
SEED_ALIASES = {"total_tasks": "total", "status_counts": "by_status"}
RATES: dict[str, serializers.Field] = {
    "dead_letter_rate": serializers.FloatField(
        help_text="Failed tasks (in the dead letter now) / finished tasks; a requeue takes its task back out."),
    "attempts": serializers.IntegerField(help_text="Runs that ended: completed, failed (retried or not), cancelled."),
    "failed_attempts": serializers.IntegerField(
        help_text="Runs that ended in an error, retried or dead-lettered; never taken back by a requeue."),
    "attempt_failure_rate": serializers.FloatField(help_text="failed_attempts / attempts."),
}
WINDOW = inline_serializer("AnalyticsWindow", {
    "seconds": serializers.IntegerField(help_text="The rolling window (the `window` parameter)."),
    "since": serializers.DateTimeField(help_text="Start of the window's first 10-second bucket."),
    **{s: serializers.IntegerField(help_text=f"Tasks that finished {s} in the window (and still are).")
       for s in ("completed", "failed", "cancelled")},
    "finished": serializers.IntegerField(),
    **RATES,
    "avg_execution_ms": serializers.FloatField(allow_null=True),
    "p95_execution_ms": serializers.FloatField(allow_null=True),
    "avg_queue_wait_ms": serializers.FloatField(allow_null=True, help_text="From when each last attempt was due."),
    "p95_queue_wait_ms": serializers.FloatField(allow_null=True),
    "percentile_sample": serializers.IntegerField(
        help_text="Latest tasks finished in the window the p95s are computed over (at most 1000)."),
}, help_text="The same figures over a rolling window: counts, rates, averages and p95s all of one window.")
OVERVIEW = inline_serializer("AnalyticsOverview", {
    "total": serializers.IntegerField(),
    "by_status": inline_serializer(
        "StatusCountsOverall", {s: serializers.IntegerField() for s in Status.values},
        help_text="Unfinished statuses: now. Finished statuses: all time (rollups), each task under the status "
                  "it has now; `failed` is the dead letter (a requeue takes a task back out)."),
    "total_tasks": serializers.IntegerField(help_text="Alias of `total` (the name the seed's clients read)."),
    "status_counts": inline_serializer("StatusCountsAlias", {s: serializers.IntegerField() for s in Status.values},
                                       help_text="Alias of `by_status` (the name the seed's clients read)."),
    "by_priority": inline_serializer("PriorityCounts", {str(p): serializers.IntegerField() for p in range(1, 6)}),
    "failure_rate": serializers.FloatField(help_text="Alias of `dead_letter_rate` (kept for existing clients): "
                                                     "failed tasks / finished tasks, not failed attempts."),
    **RATES,
    "avg_execution_ms": serializers.FloatField(allow_null=True, help_text="All time (rollups)."),
    "p95_execution_ms": serializers.FloatField(allow_null=True, help_text="Of the latest `percentile_sample`."),
    "avg_queue_wait_ms": serializers.FloatField(
        allow_null=True, help_text="All time (rollups); from when each task's last attempt was due."),
    "p95_queue_wait_ms": serializers.FloatField(allow_null=True, help_text="Of the latest `percentile_sample`."),
    "completed_last_hour": serializers.IntegerField(help_text="`window.completed` of a 3600-second window."),
    "percentile_sample": serializers.IntegerField(help_text="Latest finished tasks the p95s are computed over."),
    "window": WINDOW,
})
POINTS = inline_serializer("ThroughputPoint", many=True, fields={
    "timestamp": serializers.DateTimeField(), "completed": serializers.IntegerField(),
    "failed": serializers.IntegerField(), "cancelled": serializers.IntegerField(),
})
TYPE_ROWS = inline_serializer("TypeAnalytics", many=True, fields={
    "type": serializers.CharField(), "total": serializers.IntegerField(), "by_status": STATUS_COUNTS,
    "failure_rate": serializers.FloatField(help_text="Alias of `dead_letter_rate`."), **RATES,
    "avg_execution_ms": serializers.FloatField(allow_null=True),
    "avg_queue_wait_ms": serializers.FloatField(allow_null=True, help_text="From when each last attempt was due."),
}, help_text="Per type, all time (rollups); unfinished statuses now.")


class AnalyticsView(StrictQuery, APIView):
    extra_query_params = ("all", "window")

    @extend_schema(operation_id="analytics", parameters=[
        OpenApiParameter("window", int, description="Seconds of the rolling `window` figures (default 3600, "
                                                    "at least 60, at most 86400: the buckets are kept a day)."),
        ALL,
    ], responses={200: OVERVIEW, **problem_responses(400, 401, 403, 429, 503)})
    def get(self, request: Request) -> Response:
        seconds = scope.query_int(request, "window", analytics.WINDOW, low=60, high=analytics.MAX_WINDOW)
        ids = scope.tenant_ids(request)
        headers = charge(request, api_conf().ANALYTICS_READ_COST)
        body = analytics.overview(ids, seconds=seconds)
        body.update({alias: body[ours] for alias, ours in SEED_ALIASES.items()})
        return Response(body, headers=headers)


class ThroughputView(StrictQuery, APIView):
    extra_query_params = ("window", "bucket", "all")

    @extend_schema(
        operation_id="analytics_throughput",
        parameters=[
            OpenApiParameter("window", int, description="Seconds to cover (default 300, at most 86400)."),
            OpenApiParameter("bucket", int, description="Seconds per point, a multiple of 10 (default 10)."),
            ALL,
        ],
        responses={200: POINTS, **problem_responses(400, 401, 403, 429, 503)},
    )
    def get(self, request: Request) -> Response:
        window = scope.query_int(request, "window", 300, low=10, high=86_400)
        bucket = scope.query_int(request, "bucket", 10, low=10, high=86_400)
        if bucket % 10:
            raise ValidationError({"bucket": "must be a multiple of 10 seconds"})
        if bucket > window:
            raise ValidationError({"bucket": "must not be longer than the window"})
        if window // bucket > 1000:
            raise ValidationError({"bucket": "at most 1000 points per request; use a larger bucket"})
        ids = scope.tenant_ids(request)
        headers = charge(request, api_conf().ANALYTICS_READ_COST)
        data = [{**point, "timestamp": moment(point["timestamp"])}
                for point in analytics.throughput(ids, window=window, bucket=bucket)]
        return Response(data, headers=headers)


class TypesView(StrictQuery, APIView):
    extra_query_params = ("all",)

    @extend_schema(operation_id="analytics_types", parameters=[ALL],
                   responses={200: TYPE_ROWS, **problem_responses(400, 401, 403, 429, 503)})
    def get(self, request: Request) -> Response:
        ids = scope.tenant_ids(request)
        headers = charge(request, api_conf().ANALYTICS_READ_COST)
        return Response(analytics.by_type(ids), headers=headers)
