"""Tasks: submit (one or a batch), list, read, cancel, retry."""

import math
from typing import Any

from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ...conf import conf
from ...lifecycle import Action
from ...models import Task
from ...services import admission, control, idempotency, listing, scan, why
from ...services.enqueue import build_many, build_task, find_holder, find_holders, find_replay, save_many, save_task
from .. import budget, representation, scope
from ..conf import api_conf
from ..errors import Problem, problem_responses
from ..params import StrictQuery
from ..reads import charge
from ..serializers import (
    BatchCreatedSerializer,
    TaskBatchSerializer,
    TaskCreateSerializer,
    TaskDetailSerializer,
    TaskListSerializer,
    TaskSerializer,
    TaskSubmittedSerializer,
    WhySerializer,
)
from . import submitting
from .paging import FILTER_PARAMS, LIST_PARAMS, SORT_FIELDS, TASK_PAGING, choice, decode_cursor, encode_cursor

LIST_ERRORS = problem_responses(400, 401, 403, 429, 503)
ONE_ERRORS = problem_responses(400, 401, 403, 404)
ACT_ERRORS = problem_responses(400, 401, 403, 404, 409)
SUBMIT_ERRORS = problem_responses(400, 401, 409, 413, 415, 429, 503)
class TaskListCreateView(StrictQuery, GenericAPIView[Task]):
    filterset_class = listing.TaskFilter
    list_params = TASK_PAGING
    serializer_class = TaskSerializer

    def get_queryset(self) -> Any:
        return scope.tasks(self.request).select_related("tenant")

    @extend_schema(operation_id="tasks_list", parameters=[*LIST_PARAMS, *FILTER_PARAMS], filters=False,
                   responses={200: TaskListSerializer, **LIST_ERRORS})
    def get(self, request: Request) -> Response:
        base = self.get_queryset()
        qs = self.filter_queryset(base)
        page_size = scope.query_int(request, "page_size", 20, low=1, high=100)
        order = choice(request, "order", ["asc", "desc"], "desc")
        if "cursor" in request.query_params:
            return self._cursor_page(base, qs, request.query_params["cursor"], page_size, order)
        sort_by = SORT_FIELDS[choice(request, "sort_by", list(SORT_FIELDS), "created_at")]
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
            "data": [representation.task(t) for t in rows],
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
        decoded = decode_cursor(raw)
        last_id, order = decoded if decoded is not None else (None, order)
        headers = charge(self.request, api_conf().LIST_READ_COST)
        descending = order == "desc"
        rows, next_id = scan.keyset(base, qs, size=page_size, after=last_id, descending=descending)
        return Response({
            "data": [representation.task(t) for t in rows],
            "page_size": page_size,
            "next_cursor": None if next_id is None else encode_cursor(next_id, order),
        }, headers=headers)

    @extend_schema(
        operation_id="tasks_create",
        request=TaskCreateSerializer,
        parameters=[submitting.key_header("Same as the body's idempotency_key."),
                    *budget.response_headers(location=(201,), replayed=(200,))],
        responses={201: TaskSubmittedSerializer,
                   200: OpenApiResponse(TaskSubmittedSerializer, "Replay of an idempotency key "
                                        "(Idempotent-Replayed: true), or a duplicate: "
                                        "the live task holding its unique_key (\"duplicate\": true)"),
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
        task = build_task(tenant, spec, public=True, allowance=scope.allowance(request, tenant))
        if task.idempotency_key:
            task.request_hash = idempotency.request_hash(spec)
        replay = find_replay(tenant, task.idempotency_key)
        if replay is not None:
            submitting.check_replays([(replay, task)])
            return submitting.replayed(replay, tenant)
        if (holder := find_holder(tenant, task.unique_active)) is not None:
            return submitting.submitted(holder, tenant, status.HTTP_200_OK, duplicate=True)  # not new work: free
        budget.refuse_never_fits(request, 1)
        submitting.admit(tenant, 1)
        charge, headers = scope.admit(request, 1)
        try:
            result = save_task(task, looked_up=True)
            if not result.created and not result.duplicate:
                submitting.check_replays([(result.task, task)])
        except BaseException:
            charge.refund()
            raise
        if not result.created:
            # Refunded: the charge's RateLimit headers are stale; the window is reported as it now stands.
            charge.refund()
            if not result.duplicate:
                return submitting.replayed(result.task, tenant)
            return submitting.submitted(result.task, tenant, status.HTTP_200_OK, duplicate=True)
        admission.admitted(tenant.pk, 1)
        headers["Location"] = f"/api/tasks/{result.task.pk}"
        return submitting.submitted(result.task, tenant, status.HTTP_201_CREATED, headers)


class TaskBatchView(StrictQuery, APIView):
    @extend_schema(operation_id="tasks_batch", request=TaskBatchSerializer,
                   parameters=[submitting.key_header(
                       "Names the whole batch: a replay with the same body answers the first answer again "
                       "(Idempotent-Replayed: true) for 24 h; another body is a 409."),
                       *budget.response_headers(replayed=(201,))],
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
        batch_key = submitting.batch_key(request)
        sent_hash = idempotency.request_hash(body) if batch_key else ""
        if batch_key and (stored := idempotency.stored_batch(tenant.pk, batch_key)) is not None:
            return submitting.replayed_batch(stored, sent_hash)  # before any work: a replay costs nothing
        tasks = build_many(specs, tenant=tenant, public=True, allowance=scope.allowance(request, tenant))
        for spec, task in zip(specs, tasks, strict=True):
            if task.idempotency_key:
                task.request_hash = idempotency.request_hash(spec)
        keys = {t.idempotency_key for t in tasks if t.idempotency_key}
        known = {t.idempotency_key: t for t in Task.objects.filter(tenant=tenant, idempotency_key__in=keys)
                 .only("pk", "idempotency_key", "request_hash")} if keys else {}
        submitting.check_batch(tasks, known)
        held = find_holders(tenant, {t.unique_active for t in tasks if t.unique_active})
        cost = submitting.cost(tasks, known, held)
        if cost:
            budget.refuse_never_fits(request, cost, field="tasks")
            submitting.admit(tenant, cost)
        charge, headers = scope.admit(request, cost) if cost else (None, {})
        try:
            with transaction.atomic():
                # First: of concurrent requests with this key one inserts, the others wait and replay it.
                claim = idempotency.claim_batch(tenant.pk, batch_key, sent_hash) if batch_key else None
                results = save_many(tasks, tenant=tenant, looked_up=(known, held))
                # A concurrent request may have taken a key since the look above: a 409 undoes the batch.
                submitting.check_batch(tasks, {r.task.idempotency_key: r.task for r in results
                                               if not r.created and not r.duplicate})
                answer = submitting.batch_answer(results)
                if claim is not None:
                    idempotency.record_batch(claim, status.HTTP_201_CREATED, answer)
        except idempotency.KeyTaken:
            if charge is not None:
                charge.refund()
            if batch_key and (stored := idempotency.stored_batch(tenant.pk, batch_key)) is not None:
                return submitting.replayed_batch(stored, sent_hash)
            raise Problem(409, "A concurrent request with this Idempotency-Key was undone; send it again.",
                          kind="idempotency-mismatch", extra={"idempotency_key": batch_key}) from None
        except BaseException:
            if charge is not None:
                charge.refund()
            raise
        admission.admitted(tenant.pk, answer["created"])
        return Response(answer, status=status.HTTP_201_CREATED, headers=headers)


class TaskDetailView(StrictQuery, APIView):
    extra_query_params = ("all",)
    @extend_schema(operation_id="tasks_retrieve", parameters=[LIST_PARAMS[-1]],
                   responses={200: TaskDetailSerializer, **ONE_ERRORS})
    def get(self, request: Request, pk: int) -> Response:
        task = scope.tasks(request).select_related("tenant").get(pk=pk)
        return Response(representation.detail(task))


class TaskWhyView(StrictQuery, APIView):
    extra_query_params = ("all",)
    @extend_schema(operation_id="tasks_why", parameters=[LIST_PARAMS[-1]], responses={200: WhySerializer, **ONE_ERRORS})
    def get(self, request: Request, pk: int) -> Response:
        task = scope.tasks(request).get(pk=pk)
        return Response(why.explain(task).as_dict())


class TaskCancelView(StrictQuery, APIView):
    extra_query_params = ("all",)
    @extend_schema(operation_id="tasks_cancel", request=None, parameters=[LIST_PARAMS[-1]],
                   responses={200: TaskSerializer, **ACT_ERRORS})
    def post(self, request: Request, pk: int) -> Response:
        task = control.cancel(pk, tenant=scope.tenant_of(request))
        return Response(representation.task(Task.objects.select_related("tenant").get(pk=task.pk)))


class TaskRetryView(StrictQuery, APIView):
    extra_query_params = ("all",)
    @extend_schema(operation_id="tasks_retry", request=None, parameters=[LIST_PARAMS[-1]],
                   responses={200: TaskSerializer, **problem_responses(400, 401, 403, 404, 409, 429, 503)})
    def post(self, request: Request, pk: int) -> Response:
        """A retry is new work: charged to the task's own tenant (an operator's ``all=true`` too), 1 per task."""
        tenant = scope.tenant_of(request)
        task = control.actionable(pk, tenant, Action.REQUEUE)
        charge, headers = scope.admit(request, 1, tenant_id=task.tenant_id)
        try:
            task = control.requeue(pk, tenant=tenant)
        except BaseException:
            charge.refund()
            raise
        return Response(representation.task(Task.objects.select_related("tenant").get(pk=task.pk)), headers=headers)

