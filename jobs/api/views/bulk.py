"""Bulk actions in the background: ``POST /api/bulk`` starts one and answers at once with its id,
``GET /api/bulk/{id}`` shows how far it got, ``POST /api/bulk/{id}/stop`` stops it between batches.

A tenant key acts on its own tenant's tasks; an operator key with ``?all=true`` on every tenant's.
"""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ...exceptions import InvalidTransition
from ...models import BulkAction, Task
from ...services import bulk, control
from .. import scope
from ..errors import Problem, problem_responses
from ..params import StrictQuery
from .analytics import ALL


class BulkCreateSerializer(serializers.Serializer[Any]):
    action = serializers.ChoiceField(choices=BulkAction.Kind.values, help_text=(
        "`cancel` (waiting and running tasks), `retry` (failed or cancelled tasks, charged to the tenants' "
        "rate limits as they go) or `requeue-dead` (one dead-letter group)."))
    filter = serializers.DictField(child=serializers.CharField(), required=False, default=dict, help_text=(
        "The filters of GET /api/tasks (status, type, queue, priority, created_after, …); for `requeue-dead`: "
        "`type`, `error_type`, `error_message`."))
    upto = serializers.IntegerField(required=False, min_value=0, help_text=(
        "Act only on task ids up to this (what you counted); default: the newest match now."))


class BulkSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    state = serializers.ChoiceField(choices=BulkAction.State.values)
    expected = serializers.IntegerField(help_text="Tasks it works through (counted when it starts).")
    done = serializers.IntegerField(help_text="Tasks changed so far.")
    skipped = serializers.IntegerField(help_text="Counted, but no longer in a state it applies to by their turn.")
    message = serializers.CharField(help_text="Why it stopped, or what it waits for.")
    duplicate = serializers.BooleanField(required=False, help_text="The same action was already under way: "
                                                                   "this is that one.")


def _visible(request: Request, pk: int) -> BulkAction:
    key = scope.key_of(request)
    qs = BulkAction.objects.select_related("task")
    if not key.is_operator:
        qs = qs.filter(tenant_id=key.tenant_id)
    found = qs.filter(pk=pk).first()
    if found is None:
        raise Problem(404, f"No bulk action {pk}.", kind="not-found")
    return found


class BulkCreateView(StrictQuery, APIView):
    extra_query_params = ("all",)

    @extend_schema(operation_id="bulk_create", request=BulkCreateSerializer, parameters=[ALL],
                   responses={200: BulkSerializer, 202: BulkSerializer, **problem_responses(400, 401, 403, 415)})
    def post(self, request: Request) -> Response:
        data = scope.body_fields(request, BulkCreateSerializer, "not a field of a bulk action")
        tenant = scope.tenant_of(request)
        try:
            upto = data.get("upto")
            if upto is None:
                upto = bulk.cutoff(data["action"], data["filter"], tenant)[0]
            started = bulk.start(data["action"], filter=data["filter"], tenant=tenant, cutoff_id=upto)
        except bulk.InvalidSelection as exc:
            raise ValidationError({exc.field: str(exc)}) from None
        body = {**bulk.summary(started.bulk), "duplicate": not started.created}
        return Response(body, status=202 if started.created else 200)


class BulkDetailView(StrictQuery, APIView):
    @extend_schema(operation_id="bulk_retrieve", responses={200: BulkSerializer, **problem_responses(401, 404)})
    def get(self, request: Request, pk: int) -> Response:
        return Response(bulk.summary(_visible(request, pk)))


class BulkStopView(StrictQuery, APIView):
    @extend_schema(operation_id="bulk_stop", request=None,
                   responses={202: BulkSerializer, **problem_responses(401, 404, 409)})
    def post(self, request: Request, pk: int) -> Response:
        found = _visible(request, pk)
        try:
            if found.task_id is None:
                raise Task.DoesNotExist
            control.cancel(found.task_id)
        except (Task.DoesNotExist, InvalidTransition):
            raise Problem(409, f"Bulk action {pk} has already ended.", kind="invalid-state") from None
        return Response(bulk.summary(found), status=202)
