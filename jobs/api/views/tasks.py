"""Tasks: submit (one or a batch), list, read, cancel, retry."""

from typing import Any

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tenants.models import Tenant

from ...conf import conf
from ...lifecycle import FINISHED, Action
from ...models import Task
from ...services import admission, control, idempotency, listing, why
from ...services.enqueue import build_many, build_task, find_holder, find_holders, find_replay, save_many, save_task
from .. import representation, scope, wait
from ..conf import api_conf
from ..errors import Problem, problem_responses
from ..serializers import (
    BatchCreatedSerializer,
    TaskBatchSerializer,
    TaskCreateSerializer,
    TaskDetailSerializer,
    TaskSerializer,
    TaskSubmittedSerializer,
    WhySerializer,
)
from . import reading
from .paging import FILTER_PARAMS, LIST_PARAMS

READ_ERRORS = problem_responses(400, 401, 403)
LIST_ERRORS = problem_responses(400, 401, 403, 429, 503)
ONE_ERRORS = problem_responses(400, 401, 403, 404)
ACT_ERRORS = problem_responses(400, 401, 403, 404, 409)
SUBMIT_ERRORS = problem_responses(400, 401, 409, 413, 415, 429, 503)
class TaskListCreateView(GenericAPIView[Task]):
    filterset_class = listing.TaskFilter
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
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER,
                                     description="Same as the body's idempotency_key.")],
        responses={201: TaskSubmittedSerializer,
                   200: OpenApiResponse(TaskSubmittedSerializer, "Replay of an idempotency key, or a duplicate: "
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
            _check_replays([(replay, task)])
            return _submitted(replay, tenant, status.HTTP_200_OK)
        if (holder := find_holder(tenant, task.unique_active)) is not None:
            return _submitted(holder, tenant, status.HTTP_200_OK, duplicate=True)  # not new work: not charged
        _admit(tenant, 1)
        charge, headers = scope.admit(request, 1)
        try:
            result = save_task(task, looked_up=True)
            if not result.created and not result.duplicate:
                _check_replays([(result.task, task)])
        except BaseException:
            charge.refund()
            raise
        if not result.created:
            charge.refund()
            return _submitted(result.task, tenant, status.HTTP_200_OK, headers, duplicate=result.duplicate)
        admission.admitted(tenant.pk, 1)
        headers["Location"] = f"/api/tasks/{result.task.pk}"
        return _submitted(result.task, tenant, status.HTTP_201_CREATED, headers)


def _submitted(task: Task, tenant: Tenant, code: int, headers: dict[str, str] | None = None, *,
               duplicate: bool = False) -> Response:
    """The answer to a submission: the task (the new one, the replayed original, or the live holder
    of its unique key; all of them ``tenant``'s, whose slug the key gave: no query) and whether it was
    that holder."""
    task.tenant = tenant
    return Response(representation.submitted(task, duplicate=duplicate), status=code, headers=headers)


def _admit(tenant: Tenant, adding: int) -> None:
    """The tenant's backlog caps (``jobs.services.admission``): a 429 naming the cap, charged nothing."""
    try:
        admission.check(tenant, adding)
    except admission.Refused as exc:
        raise Problem(429, str(exc), kind="admission", headers={"Retry-After": str(exc.retry_after)},
                      extra={"cap": exc.cap, "limit": exc.limit, **exc.observed,
                             "retry_after": exc.retry_after}) from None


def _check_replays(pairs: list[tuple[Task, Task]], *, indexes: list[int] | None = None) -> None:
    """409 if a key is replayed with another body (``jobs.services.idempotency``): for a batch,
    one error per such item, named ``tasks[i].idempotency_key`` like the batch's other errors."""
    errors = []
    for n, (original, sent) in enumerate(pairs):
        try:
            idempotency.check(original, sent)
        except idempotency.Mismatch as exc:
            if indexes is None:
                raise Problem(409, str(exc), kind="idempotency-mismatch",
                              extra={"idempotency_key": exc.key, "differs": exc.differs}) from None
            errors.append({"field": f"tasks[{indexes[n]}].idempotency_key", "message": str(exc)})
    if errors:
        raise Problem(409, f"{len(errors)} task(s) reuse an idempotency key with a different body; nothing was "
                           "written.", kind="idempotency-mismatch", extra={"errors": errors})


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
        tasks = build_many(specs, tenant=tenant, public=True, allowance=scope.allowance(request, tenant))
        for spec, task in zip(specs, tasks, strict=True):
            if task.idempotency_key:
                task.request_hash = idempotency.request_hash(spec)
        keys = {t.idempotency_key for t in tasks if t.idempotency_key}
        known = {t.idempotency_key: t for t in Task.objects.filter(tenant=tenant, idempotency_key__in=keys)
                 .only("pk", "idempotency_key", "request_hash")} if keys else {}
        _check_batch(tasks, known)
        held = find_holders(tenant, {t.unique_active for t in tasks if t.unique_active})
        cost = _cost(tasks, known, held)
        if cost:
            _admit(tenant, cost)
        charge, headers = scope.admit(request, cost) if cost else (None, {})
        try:
            with transaction.atomic():
                results = save_many(tasks, tenant=tenant, looked_up=(known, held))
                # A concurrent request may have taken a key since the look above: a 409 undoes the batch.
                _check_batch(tasks, {r.task.idempotency_key: r.task for r in results
                                     if not r.created and not r.duplicate})
        except BaseException:
            if charge is not None:
                charge.refund()
            raise
        created = sum(1 for r in results if r.created)
        admission.admitted(tenant.pk, created)
        return Response({
            "created": created,
            "ids": [r.task.pk for r in results],
            "replayed": [i for i, r in enumerate(results) if not r.created and not r.duplicate],
            "duplicate": [i for i, r in enumerate(results) if r.duplicate],
        }, status=status.HTTP_201_CREATED, headers=headers)


def _cost(tasks: list[Task], known: dict[str | None, Task], holders: dict[str, Task]) -> int:
    """The new tasks a batch asks for: not replays of ``known`` keys, not duplicates of a live
    holder nor of an earlier item (a race since may still make some of them duplicates)."""
    held = set(holders)
    cost = 0
    for t in tasks:
        if t.idempotency_key in known and t.idempotency_key:
            continue
        if t.unique_active:
            if t.unique_active in held:
                continue
            held.add(t.unique_active)
        cost += 1
    return cost


def _check_batch(tasks: list[Task], originals: dict[str | None, Task]) -> None:
    """``_check_replays`` for a batch: the hashes decide; only mismatched originals are read whole."""
    indexes = [i for i, t in enumerate(tasks)
               if t.idempotency_key in originals and not idempotency.replays(originals[t.idempotency_key], t)]
    if indexes:
        whole = Task.objects.in_bulk([originals[tasks[i].idempotency_key].pk for i in indexes])
        _check_replays([(whole[originals[tasks[i].idempotency_key].pk], tasks[i]) for i in indexes], indexes=indexes)


class TaskDetailView(APIView):
    extra_query_params = ("wait",)

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
        return Response(representation.task(Task.objects.select_related("tenant").get(pk=task.pk)))


class TaskRetryView(APIView):
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

