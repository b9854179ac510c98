"""Tasks: submit (one or a batch), list, read, cancel, retry."""

import base64
import binascii
import json
import math
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ...conf import conf
from ...models import Task
from ...services import control, listing, scan, why
from ...services.enqueue import build_many, build_task, find_replay, save_many, save_task
from .. import scope
from ..conf import api_conf
from ..errors import problem_responses
from ..reads import charge
from ..serializers import (
    BatchCreatedSerializer,
    TaskBatchSerializer,
    TaskCreateSerializer,
    TaskDetailSerializer,
    TaskListSerializer,
    TaskSerializer,
    WhySerializer,
)

READ_ERRORS = problem_responses(400, 401, 403)
LIST_ERRORS = problem_responses(400, 401, 403, 429, 503)
ONE_ERRORS = problem_responses(400, 401, 403, 404)
ACT_ERRORS = problem_responses(400, 401, 403, 404, 409)
SUBMIT_ERRORS = problem_responses(400, 401, 413, 415, 429, 503)
SORT_FIELDS = {"created_at": "created_at", "priority": "priority", "status": "status", "id": "id"}
LIST_PARAMS = [
    OpenApiParameter("page", int, description=f"1-based page number (page-number mode); page × page_size at most "
                                              f"{listing.MAX_OFFSET_ROWS}: use cursor pages beyond."),
    OpenApiParameter("page_size", int, description="1 … 100 (default 20)."),
    OpenApiParameter("sort_by", str, enum=list(SORT_FIELDS), description="Default created_at."),
    OpenApiParameter("order", str, enum=["asc", "desc"], description="Default desc."),
    OpenApiParameter("cursor", str, description="Keyset pages by id, no COUNT: send it empty for the first page. "
                                                "Each examines at most 10,000 tasks, so a filtered page may be short, "
                                                "even empty, with a next_cursor: follow it until it is null."),
    OpenApiParameter("all", bool, description="Every tenant (operator keys only)."),
]
FILTER_PARAMS = [
    OpenApiParameter("status", str, description="One or more statuses, comma-separated."),
    OpenApiParameter("type", str),
    OpenApiParameter("priority", int, description="1 … 5"),
    OpenApiParameter("queue", str),
    OpenApiParameter("created_after", OpenApiTypes.DATETIME),
    OpenApiParameter("created_before", OpenApiTypes.DATETIME),
    OpenApiParameter("finished_after", OpenApiTypes.DATETIME),
    OpenApiParameter("finished_before", OpenApiTypes.DATETIME),
    OpenApiParameter("q", str, description="A task id, a type prefix or an idempotency key."),
    OpenApiParameter("tenant", str, description="Operators with all=true: one tenant's slug."),
    OpenApiParameter("why", str, enum=list(why.CODES),
                     description="Tasks for which GET /api/tasks/{id}/why would answer this code."),
]


def _choice(request: Request, name: str, choices: list[str], default: str) -> str:
    value = request.query_params.get(name) or default
    if value not in choices:
        raise ValidationError({name: f"must be one of {', '.join(choices)}"})
    return value


def _encode_cursor(last_id: int, order: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"id": last_id, "o": order}).encode()).decode().rstrip("=")


def _decode_cursor(raw: str) -> tuple[int, str] | None:
    if not raw:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        data = None
    if not isinstance(data, dict) or type(data.get("id")) is not int or data.get("o") not in ("asc", "desc"):
        raise ValidationError({"cursor": "not a cursor this API issued"})
    last_id, order = data["id"], data["o"]
    if not 0 <= last_id <= listing.MAX_ID:
        raise ValidationError({"cursor": "not a cursor this API issued"})
    return last_id, order


class TaskListCreateView(GenericAPIView[Task]):
    filterset_class = listing.TaskFilter
    serializer_class = TaskSerializer

    def get_queryset(self) -> Any:
        return scope.tasks(self.request).select_related("tenant")

    @extend_schema(operation_id="tasks_list", parameters=[*LIST_PARAMS, *FILTER_PARAMS], filters=False,
                   responses={200: TaskListSerializer, **LIST_ERRORS})
    def get(self, request: Request) -> Response:
        base = self.get_queryset()
        qs = self.filter_queryset(base)
        page_size = scope.query_int(request, "page_size", 20, low=1, high=100)
        order = _choice(request, "order", ["asc", "desc"], "desc")
        if "cursor" in request.query_params:
            return self._cursor_page(base, qs, request.query_params["cursor"], page_size, order)
        sort_by = SORT_FIELDS[_choice(request, "sort_by", list(SORT_FIELDS), "created_at")]
        page = scope.query_int(request, "page", 1, low=1, high=10_000_000)
        if page * page_size > listing.MAX_OFFSET_ROWS:
            # An OFFSET reads and throws away every row before the page: deep pages walk the keyset instead.
            raise ValidationError({"page": f"page × page_size may be at most {listing.MAX_OFFSET_ROWS}; "
                                           "use cursor pages (cursor=) to go deeper"})
        headers = charge(request, api_conf().LIST_READ_COST)
        descending = order == "desc"
        offset = (page - 1) * page_size
        if self._served(sort_by):
            prefix = "-" if descending else ""
            qs = qs.order_by(f"{prefix}{sort_by}", f"{prefix}id")
            # Exact up to the cap, never a scan of millions: beyond it, use cursor pages.
            total, more = listing.bounded_count(qs, listing.COUNT_CAP)
            rows = list(qs[offset: offset + page_size])
        else:
            rows, total, more = scan.page(base, qs, sort=sort_by, descending=descending, offset=offset,
                                          size=page_size)
        return Response({
            "data": TaskSerializer(rows, many=True).data,
            "total": total,
            "total_exact": not more,
            "page": page,
            "page_size": page_size,
            "total_pages": math.ceil(total / page_size) if total else 0,
        }, headers=headers)

    def _served(self, order: str) -> bool:
        """Whether an index serves this request's filters in ``order`` (else it is windowed)."""
        params = self.request.query_params
        active = {name for name in listing.TaskFilter.base_filters if str(params.get(name, "")).strip()}
        return scan.served(active, order, one_tenant=scope.tenant_ids(self.request) is not None)

    def _cursor_page(self, base: Any, qs: Any, raw: str, page_size: int, order: str) -> Response:
        decoded = _decode_cursor(raw)
        last_id, order = decoded if decoded is not None else (None, order)
        headers = charge(self.request, api_conf().LIST_READ_COST)
        descending = order == "desc"
        rows, next_id = scan.keyset(base, qs, size=page_size, after=last_id, descending=descending)
        return Response({
            "data": TaskSerializer(rows, many=True).data,
            "page_size": page_size,
            "next_cursor": None if next_id is None else _encode_cursor(next_id, order),
        }, headers=headers)

    @extend_schema(
        operation_id="tasks_create",
        request=TaskCreateSerializer,
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER,
                                     description="Same as the body's idempotency_key.")],
        responses={201: TaskSerializer, 200: OpenApiResponse(TaskSerializer, "Replay of an idempotency key"),
                   **SUBMIT_ERRORS},
    )
    def post(self, request: Request) -> Response:
        scope.check_body_size(request, conf().MAX_PAYLOAD_BYTES + 16 * 1024)
        spec = dict(scope.body_object(request))
        header_key = request.headers.get("Idempotency-Key")
        if header_key is not None:
            if spec.get("idempotency_key") not in (None, header_key):
                raise ValidationError({"idempotency_key": "differs from the Idempotency-Key header"})
            spec["idempotency_key"] = header_key
        tenant = scope.own_tenant(request)
        task = build_task(tenant, spec, public=True)
        replay = find_replay(tenant, task.idempotency_key)
        if replay is not None:
            return Response(TaskSerializer(replay).data, status=status.HTTP_200_OK)
        decision, headers = scope.admit(request, 1)
        try:
            result = save_task(task)
        except BaseException:
            scope.refund(request, decision)
            raise
        if not result.created:
            scope.refund(request, decision)
            return Response(TaskSerializer(result.task).data, status=status.HTTP_200_OK, headers=headers)
        result.task.tenant = tenant
        headers["Location"] = f"/api/tasks/{result.task.pk}"
        return Response(TaskSerializer(result.task).data, status=status.HTTP_201_CREATED, headers=headers)


class TaskBatchView(APIView):
    @extend_schema(operation_id="tasks_batch", request=TaskBatchSerializer,
                   responses={201: BatchCreatedSerializer, **SUBMIT_ERRORS})
    def post(self, request: Request) -> Response:
        scope.check_body_size(request, api_conf().API_MAX_BODY_BYTES)
        body = scope.body_object(request)
        specs = body.get("tasks")
        extra = sorted(set(body) - {"tasks"})
        if extra:
            raise ValidationError({extra[0]: "unknown field"})
        if not isinstance(specs, list):
            raise ValidationError({"tasks": "required: a list of task objects"})
        if not specs:
            raise ValidationError({"tasks": "give at least one task"})
        tenant = scope.own_tenant(request)
        tasks = build_many(specs, tenant=tenant, public=True)
        keys = {t.idempotency_key for t in tasks if t.idempotency_key}
        known = set(Task.objects.filter(tenant=tenant, idempotency_key__in=keys)
                    .values_list("idempotency_key", flat=True)) if keys else set()
        cost = sum(1 for t in tasks if t.idempotency_key not in known or not t.idempotency_key)
        decision, headers = scope.admit(request, cost) if cost else (None, {})
        try:
            results = save_many(tasks, tenant=tenant)
        except BaseException:
            if decision is not None:
                scope.refund(request, decision)
            raise
        return Response({
            "created": sum(1 for r in results if r.created),
            "ids": [r.task.pk for r in results],
            "replayed": [i for i, r in enumerate(results) if not r.created],
        }, status=status.HTTP_201_CREATED, headers=headers)


class TaskDetailView(APIView):
    @extend_schema(operation_id="tasks_retrieve", parameters=[LIST_PARAMS[-1]],
                   responses={200: TaskDetailSerializer, **ONE_ERRORS})
    def get(self, request: Request, pk: int) -> Response:
        task = scope.tasks(request).select_related("tenant").get(pk=pk)
        return Response(TaskDetailSerializer(task).data)


class TaskWhyView(APIView):
    @extend_schema(operation_id="tasks_why", parameters=[LIST_PARAMS[-1]], responses={200: WhySerializer, **ONE_ERRORS})
    def get(self, request: Request, pk: int) -> Response:
        task = scope.tasks(request).get(pk=pk)
        return Response(why.explain(task).as_dict())


class TaskCancelView(APIView):
    @extend_schema(operation_id="tasks_cancel", request=None, parameters=[LIST_PARAMS[-1]],
                   responses={200: TaskSerializer, **ACT_ERRORS})
    def post(self, request: Request, pk: int) -> Response:
        task = control.cancel(pk, tenant=scope.tenant_of(request))
        return Response(TaskSerializer(Task.objects.select_related("tenant").get(pk=task.pk)).data)


class TaskRetryView(APIView):
    @extend_schema(operation_id="tasks_retry", request=None, parameters=[LIST_PARAMS[-1]],
                   responses={200: TaskSerializer, **ACT_ERRORS})
    def post(self, request: Request, pk: int) -> Response:
        task = control.requeue(pk, tenant=scope.tenant_of(request))
        return Response(TaskSerializer(Task.objects.select_related("tenant").get(pk=task.pk)).data)

