"""Schedules: list, create, read, change, delete and fire recurring tasks (operator keys only)."""

from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ... import actor
from ...models import Schedule
from ...services import schedules
from .. import scope
from ..errors import Problem, problem_responses
from ..params import StrictQuery
from ..serializers import Moment


class ScheduleSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    tenant = serializers.CharField(help_text="The tenant's slug.")
    type = serializers.CharField()
    cron = serializers.CharField(allow_blank=True, help_text="5 fields, or 6 with seconds first; '' with every.")
    every = serializers.IntegerField(allow_null=True, help_text="Seconds between ticks; null with cron.")
    expression = serializers.CharField(help_text="The cron expression, or 'every 30s'.")
    timezone = serializers.CharField(help_text="The IANA zone the cron expression is read in.")
    payload = serializers.DictField()
    priority = serializers.IntegerField()
    queue = serializers.CharField(allow_blank=True, help_text="'': the type's queue or the default.")
    options = serializers.DictField(help_text="Other task fields of every task (max_retries, timeout_seconds, …).")
    missed = serializers.ChoiceField(choices=Schedule.Missed.values)
    missed_limit = serializers.IntegerField()
    enabled = serializers.BooleanField()
    # A declared field named like Field.source (the metaclass takes it out of the class): mypy sees the clash.
    source = serializers.ChoiceField(choices=Schedule.Source.values,  # type: ignore[assignment]
                                     help_text="settings: JOBS['SCHEDULES'], synced when a worker starts.")
    next_run_at = Moment(allow_null=True)
    last_run_at = Moment(allow_null=True)
    last_task = serializers.IntegerField(allow_null=True, help_text="The last tick's task.")
    last_outcome = serializers.CharField(allow_blank=True,
                                         help_text="The last task's status, 'error: …', 'pruned', or '' (never).")
    drift = serializers.ListField(child=serializers.CharField(),
                                  help_text="For a settings schedule: the fields changed at runtime, or 'removed'.")


class ScheduleWriteSerializer(serializers.Serializer[Any]):
    """Documents ``POST``/``PATCH``; the service validates (and names the field)."""

    name = serializers.CharField(max_length=100, help_text="POST only.")
    tenant = serializers.CharField(help_text="The tenant's slug.")
    type = serializers.CharField()
    cron = serializers.CharField(required=False, help_text="5 fields, or 6 with seconds first.")
    every = serializers.CharField(required=False, help_text="Instead of cron: 30s, 5m, 1h, 1d, or seconds.")
    timezone = serializers.CharField(required=False, default="UTC")
    payload = serializers.DictField(required=False)
    priority = serializers.IntegerField(required=False, min_value=1, max_value=5)
    queue = serializers.CharField(required=False, allow_blank=True)
    options = serializers.DictField(required=False)
    missed = serializers.ChoiceField(choices=Schedule.Missed.values, required=False, default="latest")
    missed_limit = serializers.IntegerField(required=False, min_value=1, default=10)
    enabled = serializers.BooleanField(required=False, default=True)


class TickSerializer(serializers.Serializer[Any]):
    tick_at = serializers.DateTimeField()
    task = serializers.IntegerField(allow_null=True, help_text="The task it enqueued; null with error.")
    error = serializers.CharField(allow_blank=True, help_text="Why no task was enqueued.")


def _as_operator[T](request: Request, change: Callable[[], T]) -> T:
    """Run ``change`` as the request's key (the audit's actor); 403 for a tenant key, 404 for no schedule."""
    key = scope.key_of(request)
    if not key.is_operator:
        raise Problem(403, "Only operator keys may read or change schedules.", kind="operator-only")
    try:
        with actor.acting(actor.key(key.prefix, address=actor.current().address)):
            return change()
    except schedules.ScheduleNotFound as exc:
        raise Problem(404, f"No schedule {exc.name!r}.", kind="not-found") from None


def _data(row: schedules.ScheduleRow) -> dict[str, Any]:
    return dict(ScheduleSerializer(row.as_dict()).data)


def _one(name: str) -> dict[str, Any]:
    return _data(schedules.rows(Schedule.objects.filter(pk=schedules.find(name).pk))[0])


class ScheduleListView(StrictQuery, APIView):
    @extend_schema(operation_id="schedules_list", responses={200: ScheduleSerializer(many=True),
                                                             **problem_responses(401, 403)})
    def get(self, request: Request) -> Response:
        return Response(_as_operator(request, lambda: [_data(r) for r in schedules.rows()]))

    @extend_schema(operation_id="schedules_create", request=ScheduleWriteSerializer,
                   responses={201: ScheduleSerializer, **problem_responses(400, 401, 403, 415)})
    def post(self, request: Request) -> Response:
        def create() -> dict[str, Any]:
            body = dict(scope.body_object(request))
            schedule = schedules.create(body.pop("name", None), body)  # the name is checked there
            return _one(schedule.name)

        return Response(_as_operator(request, create), status=201)


class ScheduleDetailView(StrictQuery, APIView):
    @extend_schema(operation_id="schedules_retrieve", responses={200: ScheduleSerializer,
                                                                 **problem_responses(401, 403, 404)})
    def get(self, request: Request, name: str) -> Response:
        return Response(_as_operator(request, lambda: _one(name)))

    @extend_schema(operation_id="schedules_update", request=ScheduleWriteSerializer(partial=True),
                   responses={200: ScheduleSerializer, **problem_responses(400, 401, 403, 404, 415)})
    def patch(self, request: Request, name: str) -> Response:
        def update() -> dict[str, Any]:
            schedules.update(name, scope.body_object(request))
            return _one(name)

        return Response(_as_operator(request, update))

    @extend_schema(operation_id="schedules_destroy", responses={204: None, **problem_responses(401, 403, 404)})
    def delete(self, request: Request, name: str) -> Response:
        _as_operator(request, lambda: schedules.delete(name))
        return Response(status=204)


class ScheduleRunView(StrictQuery, APIView):
    @extend_schema(operation_id="schedules_run", request=None,
                   responses={201: TickSerializer, **problem_responses(401, 403, 404)})
    def post(self, request: Request, name: str) -> Response:
        tick = _as_operator(request, lambda: schedules.run_now(name))
        return Response(TickSerializer({"tick_at": tick.tick_at, "task": tick.task_id, "error": tick.error}).data,
                        status=201)
