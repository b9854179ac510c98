"""Pauses: list, pause and resume a queue, a task type or a tenant (operator keys only)."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ...models import Pause
from ...services import pauses
from .. import scope
from ..errors import Problem, problem_responses
from ..params import StrictQuery


class PauseSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=Pause.Kind.values)
    value = serializers.CharField(help_text="The queue's name, the type's name or the tenant's slug.")
    reason = serializers.CharField(allow_blank=True)
    paused_by = serializers.CharField(allow_blank=True, help_text="Who paused it (the API key, a CLI user@host, "
                                                                  "a console user).")
    created_at = serializers.DateTimeField(help_text="Paused since.")
    blocked = serializers.IntegerField(help_text="Tasks it holds parked (blocked), counted up to 10,000.")
    blocked_more = serializers.BooleanField(help_text="There are more parked tasks than `blocked`.")


class PauseCreateSerializer(serializers.Serializer[Any]):
    """Documents ``POST /api/pauses``; the service validates (and names the field)."""

    kind = serializers.ChoiceField(choices=Pause.Kind.values)
    value = serializers.CharField(max_length=100)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class ResumedSerializer(serializers.Serializer[Any]):
    unblocked = serializers.IntegerField(help_text="Parked tasks handed back to pending.")


def _operator(request: Request) -> str:
    """Who is asking, as ``paused_by`` records it; 403 for a tenant key."""
    key = scope.key_of(request)
    if not key.is_operator:
        raise Problem(403, "Only operator keys may read or change pauses.", kind="operator-only")
    return f"api key {key.prefix} ({key.tenant_slug})"


def _data(p: pauses.PauseInfo) -> dict[str, Any]:
    return PauseSerializer({"kind": p.kind, "value": p.value, "reason": p.reason, "paused_by": p.paused_by,
                            "created_at": p.created_at, "blocked": p.blocked, "blocked_more": p.blocked_more}).data


class PauseListView(StrictQuery, APIView):
    @extend_schema(operation_id="pauses_list", responses={200: PauseSerializer(many=True),
                                                          **problem_responses(401, 403)})
    def get(self, request: Request) -> Response:
        _operator(request)
        return Response([_data(p) for p in pauses.list_pauses()])

    @extend_schema(operation_id="pauses_create", request=PauseCreateSerializer,
                   responses={200: PauseSerializer, 201: PauseSerializer,
                              **problem_responses(400, 401, 403, 415)})
    def post(self, request: Request) -> Response:
        by = _operator(request)
        data = scope.body_fields(request, PauseCreateSerializer, "not a field of a pause")
        try:
            info, created = pauses.pause(data["kind"], data["value"], reason=data["reason"], by=by)
        except pauses.InvalidPause as exc:
            raise ValidationError({exc.field: exc.message}) from None
        return Response(_data(info), status=201 if created else 200)


class PauseDetailView(StrictQuery, APIView):
    @extend_schema(operation_id="pauses_destroy", responses={200: ResumedSerializer,
                                                             **problem_responses(401, 403, 404)})
    def delete(self, request: Request, kind: str, value: str) -> Response:
        _operator(request)
        if kind not in Pause.Kind.values:
            raise Problem(404, f"No pause kind {kind!r}: one of {', '.join(Pause.Kind.values)}.", kind="not-found")
        try:
            n = pauses.resume(kind, value)
        except pauses.NotPaused:
            raise Problem(404, f"The {kind} {value!r} is not paused.", kind="not-found") from None
        return Response({"unblocked": n})
