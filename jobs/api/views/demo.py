"""Demo data for trying the console: operator keys only, and only in demo mode."""

import random

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ...contrib.demo import SIMULATED_TYPES
from ...models import Task, TaskStat, ThroughputBucket
from ...models.stats import AttemptStat
from ...services import audit
from ...services.enqueue import enqueue_many
from .. import scope
from ..conf import api_conf
from ..errors import Problem, problem_responses
from ..params import StrictQuery

SEEDED = inline_serializer("DemoSeeded", {"created": serializers.IntegerField()})
CLEARED = inline_serializer("DemoCleared", {"deleted": serializers.IntegerField()})


def _guard(request: Request) -> None:
    if not api_conf().DEMO_MODE:
        raise Problem(404, "Demo mode is disabled (JOBS['DEMO_MODE']).", kind="not-found")
    if not scope.key_of(request).is_operator:
        raise Problem(403, "The demo endpoints need an operator key.", kind="operator-only")


class DemoSeedView(StrictQuery, APIView):
    @extend_schema(operation_id="demo_seed", request=None, responses={201: SEEDED, **problem_responses(401, 403, 404)})
    def post(self, request: Request) -> Response:
        _guard(request)
        key = scope.key_of(request)
        specs = [{"type": random.choice(SIMULATED_TYPES), "priority": random.randint(1, 5),  # noqa: S311
                  "payload": {"demo": True}} for _ in range(50)]
        created = enqueue_many(specs, tenant=key.tenant_id)
        return Response({"created": len(created)}, status=201)


class DemoClearView(StrictQuery, APIView):
    extra_query_params = ("all",)

    @extend_schema(operation_id="demo_clear", request=None,
                   parameters=[OpenApiParameter("all", bool, description="Every tenant's data.")],
                   responses={200: CLEARED, **problem_responses(400, 401, 403, 404)})
    def post(self, request: Request) -> Response:
        _guard(request)
        ids = scope.tenant_ids(request)
        deleted = 0
        with transaction.atomic():
            for model in (Task, TaskStat, AttemptStat, ThroughputBucket):
                qs = model.objects.all() if ids is None else model.objects.filter(tenant_id__in=ids)
                n, _ = qs.delete()
                deleted += n if model is Task else 0
            scope_name = "every tenant" if ids is None else f"tenant {scope.key_of(request).tenant_slug}"
            audit.record("demo.clear", target=scope_name, tenant=None if ids is None else ids[0],
                         counts={"deleted": deleted})
        return Response({"deleted": deleted})
