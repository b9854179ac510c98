"""Workers and health checks."""

from collections.abc import Callable
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
from ..conf import api_conf
from ..errors import problem_responses
from ..params import StrictQuery
from ..reads import charge
from .analytics import ALL


def _run_fields(null: bool) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
    """A running task's fields; ``null``: as a slot, where an idle slot has none of them."""
    return {
        "task_id": serializers.IntegerField(allow_null=null), "type": serializers.CharField(allow_null=null),
        "tenant": serializers.CharField(allow_null=True), "started_at": serializers.DateTimeField(allow_null=True),
        "running_ms": serializers.IntegerField(allow_null=True),
    }


RUNNING = inline_serializer("RunningTask", many=True, fields=_run_fields(null=False),
                            help_text="The scope's tasks in a worker slot now, oldest run first.")
SLOTS = inline_serializer("WorkerSlot", many=True, fields={
    "slot": serializers.IntegerField(), "busy": serializers.BooleanField(), **_run_fields(null=True),
})
PROCESSES = inline_serializer("WorkerProcessInfo", many=True, required=False, help_text=(
    "With all=true only: every live worker process on every instance, with its slots."), fields={
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
WORKERS = inline_serializer("Workers", fields={"running": RUNNING, "processes": PROCESSES})
#: An idle slot's run fields.
IDLE = dict.fromkeys(_run_fields(null=True))


class WorkersView(StrictQuery, APIView):
    """What the key's tenant occupies in the fleet; every live worker process with ``all=true`` (operators).

    Without ``all=true`` nothing names a host, a process or another tenant's work: those say how
    the fleet is built and how busy other customers are, which is the operator's business only.
    """

    extra_query_params = ("all",)

    @extend_schema(operation_id="workers", parameters=[ALL],
                   responses={200: WORKERS, **problem_responses(400, 401, 403, 429, 503)})
    def get(self, request: Request) -> Response:
        everything = scope.wants_all(request)
        mine = None if everything else scope.key_of(request).tenant_id
        headers = charge(request, api_conf().LIST_READ_COST)  # every slot of the fleet is read: a list
        clock.refresh()  # liveness compares heartbeats written on the database's clock
        now = clock.now()
        processes = list(WorkerProcess.objects.alive(now, conf().LEASE_SECONDS).order_by("instance", "started_at"))
        slugs = dict(Tenant.objects.values_list("pk", "slug"))

        def run(slot: shapes.Slot) -> dict[str, Any]:
            started = shapes.slot_started(slot)
            tenant = slot["tenant_id"]
            return {"task_id": slot["task_id"], "type": slot["type"],
                    "tenant": slugs.get(tenant) if tenant is not None else None, "started_at": started,
                    "running_ms": round((now - started).total_seconds() * 1000) if started else None}

        running = [run(slot) for process in processes for slot in shapes.slots(process.slots)
                   if slot["task_id"] is not None and (mine is None or slot["tenant_id"] == mine)]
        running.sort(key=lambda r: (r["started_at"] is None, r["started_at"] or now, r["task_id"]))
        out: dict[str, Any] = {"running": running}
        if everything:
            out["processes"] = [_process(p, run) for p in processes]
        return Response(out, headers=headers)


def _process(process: WorkerProcess, run: Callable[[shapes.Slot], dict[str, Any]]) -> dict[str, Any]:
    slots = [{"slot": slot["slot"], "busy": slot["task_id"] is not None,
              **(IDLE if slot["task_id"] is None else run(slot))} for slot in shapes.slots(process.slots)]
    return {
        "id": process.pk, "instance": process.instance, "hostname": process.hostname, "pid": process.pid,
        "queues": [q for q in process.queues.split(",") if q], "threads": process.threads,
        "state": process.state, "started_at": process.started_at, "last_heartbeat": process.last_heartbeat,
        "busy": sum(1 for s in slots if s["busy"]), "slots": slots,
        "clock_skew": None if process.clock_skew is None else round(process.clock_skew, 3),
    }


HEALTH = inline_serializer("Health", {"status": serializers.CharField()})
READY = inline_serializer("Readiness", {
    "status": serializers.CharField(), "checks": serializers.DictField(child=serializers.CharField()),
})


class HealthView(StrictQuery, APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(operation_id="health", auth=[], responses={200: HEALTH, **problem_responses(unavailable=False)})
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class ReadyView(StrictQuery, APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(operation_id="health_ready", auth=[],
                   responses={200: READY, 503: OpenApiResponse(READY, "A dependency is unreachable"),
                              **problem_responses(unavailable=False)})
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
