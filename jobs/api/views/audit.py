"""The audit log: who changed what, when and from where (operator keys only; read-only, there is no write)."""

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ...services import auditlog
from .. import scope
from ..errors import Problem, problem_responses
from ..params import StrictQuery
from ..serializers import moment
from .paging import AUDIT_PAGING, decode_cursor, encode_cursor


class AuditEntrySerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    actor_kind = serializers.ChoiceField(choices=["user", "key", "cli", "engine"])
    actor = serializers.CharField(help_text="The username, the API key's prefix, user@host (the CLI), or engine.")
    source = serializers.ChoiceField(choices=["console", "admin", "api", "cli", "engine"])  # type: ignore[assignment]
    address = serializers.CharField(allow_blank=True, help_text="The client's address, or the CLI's host.")
    action = serializers.CharField(help_text="Noun first: task.cancel, tasks.requeue, pause.create, key.issue, …")
    tenant = serializers.CharField(allow_null=True, help_text="The tenant it concerns, if one.")
    target = serializers.CharField(allow_blank=True)
    target_ids = serializers.ListField(child=serializers.IntegerField(),
                                       help_text="The ids acted on (at most AUDIT_MAX_IDS; counts.ids has the total).")
    filter = serializers.DictField(help_text="The filter a bulk action selected by.")
    counts = serializers.DictField(help_text="Counts (matched, cancelled, requeued, …) and the before/after values "
                                             "of changed fields.")
    detail = serializers.DictField()


class AuditPageSerializer(serializers.Serializer[Any]):
    data = AuditEntrySerializer(many=True)  # type: ignore[assignment]
    page_size = serializers.IntegerField()
    next_cursor = serializers.CharField(allow_null=True, help_text="The next (older) page; null: the last.")


PARAMS = [
    OpenApiParameter("action", str, description="An action (task.cancel), or a noun alone (pause: every pause.*)."),
    OpenApiParameter("actor", str, description="A username, an API key's prefix, or user@host."),
    OpenApiParameter("tenant", str, description="A tenant's slug."),
    OpenApiParameter("since", OpenApiTypes.DATETIME, description="From this moment (included)."),
    OpenApiParameter("until", OpenApiTypes.DATETIME, description="Up to this moment (excluded)."),
    OpenApiParameter("page_size", int, description="1 … 100 (default 50)."),
    OpenApiParameter("cursor", str, description="The next_cursor of the previous page (newest first)."),
]


class AuditListView(StrictQuery, APIView):
    filterset_class = auditlog.AuditFilter
    list_params = AUDIT_PAGING

    @extend_schema(operation_id="audit_list", parameters=PARAMS,
                   responses={200: AuditPageSerializer, **problem_responses(400, 401, 403)})
    def get(self, request: Request) -> Response:
        if not scope.key_of(request).is_operator:
            raise Problem(403, "Only operator keys may read the audit log.", kind="operator-only")
        filters = auditlog.entries(request.query_params)
        if not filters.is_valid():
            raise ValidationError(filters.errors)
        size = scope.query_int(request, "page_size", 50, low=1, high=100)
        decoded = decode_cursor(request.query_params.get("cursor", ""))
        rows, next_id = auditlog.page(filters.qs, size=size, after=decoded[0] if decoded else None)
        return Response({
            "data": [{**auditlog.as_dict(entry), "at": moment(entry.at)} for entry in rows],
            "page_size": size,
            "next_cursor": None if next_id is None else encode_cursor(next_id, "desc"),
        })
