"""Workers and health checks."""

from typing import Any

from django.db import connection
from django.db.utils import DatabaseError
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tenants.models import Tenant

from ... import clock, shapes
from ...conf import conf
from ...models import WorkerProcess
from ...notify import redis as shared_redis
from .. import scope
from ..errors import problem_responses

SLOTS = inline_serializer("WorkerSlot", many=True, fields={
    "slot": serializers.IntegerField(), "busy": serializers.BooleanField(),
    "task_id": serializers.IntegerField(allow_null=True), "type": serializers.CharField(allow_null=True),
    "tenant": serializers.CharField(allow_null=True), "started_at": serializers.DateTimeField(allow_null=True),
    "running_ms": serializers.IntegerField(allow_null=True),
})
PROCESSES = inline_serializer("WorkerProcessInfo", many=True, fields={
    "id": serializers.CharField(), "instance": serializers.CharField(), "hostname": serializers.CharField(),
    "pid": serializers.IntegerField(), "queues": serializers.ListField(child=serializers.CharField()),
    "threads": serializers.IntegerField(), "state": serializers.CharField(),
    "started_at": serializers.DateTimeField(), "last_heartbeat": serializers.DateTimeField(),
    "busy": serializers.IntegerField(), "slots": SLOTS,
    "clock_skew": serializers.FloatField(
        allow_null=True, help_text="Seconds the process's host clock is ahead of the database's (negative: behind), "
                                   "at its last heartbeat; null until measured. Every time the engine compares is "
                                   "on the database's clock either way.",
    ),
})


class WorkersView(APIView):
    """Every live worker process on every instance; a tenant key sees only its own tasks in the slots."""

    @extend_schema(operation_id="workers", responses={200: PROCESSES, **problem_responses(401)})
    def get(self, request: Request) -> Response:
        key = scope.key_of(request)
        mine = None if key.is_operator else key.tenant_id
        clock.refresh()  # liveness compares heartbeats written on the database's clock
        now = clock.now()
        processes = list(WorkerProcess.objects.alive(now, conf().LEASE_SECONDS).order_by("instance", "started_at"))
        slugs = dict(Tenant.objects.values_list("pk", "slug"))
        out = []
        for process in processes:
            slots = []
            for slot in shapes.slots(process.slots):
                busy = slot["task_id"] is not None
                visible = busy and (mine is None or slot["tenant_id"] == mine)
                started = shapes.slot_started(slot)
                slots.append({
                    "slot": slot["slot"],
                    "busy": busy,
                    "task_id": slot["task_id"] if visible else None,
                    "type": slot["type"] if visible else None,
                    "tenant": slugs.get(slot["tenant_id"]) if visible and slot["tenant_id"] is not None else None,
                    "started_at": started if visible else None,
                    "running_ms": round((now - started).total_seconds() * 1000) if visible and started else None,
                })
            out.append({
                "id": process.pk, "instance": process.instance, "hostname": process.hostname, "pid": process.pid,
                "queues": [q for q in process.queues.split(",") if q], "threads": process.threads,
                "state": process.state, "started_at": process.started_at, "last_heartbeat": process.last_heartbeat,
                "busy": sum(1 for s in slots if s["busy"]), "slots": slots,
                "clock_skew": None if process.clock_skew is None else round(process.clock_skew, 3),
            })
        return Response(out)


HEALTH = inline_serializer("Health", {"status": serializers.CharField()})
READY = inline_serializer("Readiness", {
    "status": serializers.CharField(), "checks": serializers.DictField(child=serializers.CharField()),
})


class HealthView(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(operation_id="health", auth=[], responses={200: HEALTH})
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class ReadyView(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(operation_id="health_ready", auth=[],
                   responses={200: READY, 503: OpenApiResponse(READY, "A dependency is unreachable")})
    def get(self, request: Request) -> Response:
        checks: dict[str, str] = {}
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
            checks["database"] = "ok"
        except DatabaseError as exc:
            checks["database"] = f"error: {exc.__class__.__name__}"
            connection.close()
        checks["redis"] = shared_redis.health()
        ok = all(v in ("ok", "not configured") for v in checks.values())
        return Response({"status": "ready" if ok else "unavailable", "checks": checks}, status=200 if ok else 503)
