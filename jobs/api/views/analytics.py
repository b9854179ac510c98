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
OVERVIEW = inline_serializer("AnalyticsOverview", {
    "total": serializers.IntegerField(),
    "by_status": STATUS_COUNTS,
    "total_tasks": serializers.IntegerField(help_text="Alias of `total` (the name the seed's clients read)."),
    "status_counts": inline_serializer("StatusCountsAlias", {s: serializers.IntegerField() for s in Status.values},
                                       help_text="Alias of `by_status` (the name the seed's clients read)."),
    "by_priority": inline_serializer("PriorityCounts", {str(p): serializers.IntegerField() for p in range(1, 6)}),
    "failure_rate": serializers.FloatField(help_text="Dead-lettered / finished."),
    "avg_execution_ms": serializers.FloatField(allow_null=True),
    "p95_execution_ms": serializers.FloatField(allow_null=True),
    "avg_queue_wait_ms": serializers.FloatField(allow_null=True),
    "p95_queue_wait_ms": serializers.FloatField(allow_null=True),
    "completed_last_hour": serializers.IntegerField(),
    "percentile_sample": serializers.IntegerField(help_text="Latest finished tasks the p95s are computed over."),
})
POINTS = inline_serializer("ThroughputPoint", many=True, fields={
    "timestamp": serializers.DateTimeField(), "completed": serializers.IntegerField(),
    "failed": serializers.IntegerField(), "cancelled": serializers.IntegerField(),
})
TYPE_ROWS = inline_serializer("TypeAnalytics", many=True, fields={
    "type": serializers.CharField(), "total": serializers.IntegerField(), "by_status": STATUS_COUNTS,
    "failure_rate": serializers.FloatField(), "avg_execution_ms": serializers.FloatField(allow_null=True),
    "avg_queue_wait_ms": serializers.FloatField(allow_null=True),
})


class AnalyticsView(StrictQuery, APIView):
    extra_query_params = ("all",)

    @extend_schema(operation_id="analytics", parameters=[ALL],
                   responses={200: OVERVIEW, **problem_responses(400, 401, 403, 429, 503)})
    def get(self, request: Request) -> Response:
        ids = scope.tenant_ids(request)
        headers = charge(request, api_conf().ANALYTICS_READ_COST)
        body = analytics.overview(ids)
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
