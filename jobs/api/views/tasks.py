"""Tasks: submit (one or a batch), list, read, cancel, retry."""

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
from ...lifecycle import FINISHED, Action
from ...models import Task
from ...services import admission, control, idempotency, listing, why
from ...services.enqueue import build_many, build_task, find_holder, find_holders, find_replay, save_many, save_task
from .. import budget, representation, scope, wait
from ..conf import api_conf
from ..errors import Problem, problem_responses
from ..params import StrictQuery
from ..serializers import (
    BatchCreatedSerializer,
    TaskBatchSerializer,
    TaskCreateSerializer,
    TaskDetailSerializer,
    TaskSerializer,
    TaskSubmittedSerializer,
    WhySerializer,
)
from . import reading, submitting
from .paging import FILTER_PARAMS, LIST_PARAMS, TASK_PAGING

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

    extra_query_params = ("ids", "expand")

    @extend_schema(operation_id="tasks_list",
                   parameters=[*LIST_PARAMS, *FILTER_PARAMS, reading.IDS_PARAM, reading.EXPAND_PARAM], filters=False,
                   responses={200: reading.TaskPageSerializer, **LIST_ERRORS})
    def get(self, request: Request) -> Response:
        return reading.list_tasks(self, request)

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
    extra_query_params = ("all", "wait")

    @extend_schema(operation_id="tasks_retrieve",
                   parameters=[LIST_PARAMS[-1], reading.WAIT_PARAM, reading.FINISHED_HEADER],
                   responses={200: TaskDetailSerializer, **ONE_ERRORS})
    def get(self, request: Request, pk: int) -> Response:
        # ?wait= waited on the event loop before this view (jobs.api.wait); here it is only checked.
        try:
            waited = wait.parse_wait(request.query_params.get("wait"))
        except wait.BadWait as exc:
            raise ValidationError({"wait": str(exc)}) from None
        task = scope.tasks(request).select_related("tenant").get(pk=pk)
        headers = None if waited is None else {"Task-Finished": "true" if task.status in FINISHED else "false"}
        return Response(representation.detail(task), headers=headers)


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

