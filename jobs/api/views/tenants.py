"""Tenants: read and change a tenant's weight, caps, queues and state (operator keys only)."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tenants import changes
from tenants.models import Tenant
from tenants.queues import MAX_QUEUE_CHARS, MAX_QUEUES, clean_queues

from .. import scope
from ..errors import Problem, problem_responses
from ..params import StrictQuery


class TenantSerializer(serializers.ModelSerializer[Tenant]):
    class Meta:
        model = Tenant
        fields = ["slug", "name", "weight", "max_running", "active", "rate_limit", "rate_window_seconds",
                  "max_pending", "max_pending_age_seconds", "allowed_queues", "created_at"]
        read_only_fields = fields


#: Fits every backend's integer column (unsigned 32-bit on MariaDB): a larger value would fail at the write (500).
MAX_CAP = 2**31 - 1


def _cap(help_text: str) -> serializers.IntegerField:
    return serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_CAP,
                                    help_text=help_text)


class TenantUpdateSerializer(serializers.Serializer[Any]):
    """Documents and validates ``PATCH /api/tenants/{slug}``: every field optional."""

    max_running = _cap("Most tasks of the tenant running at once, across every worker; null: no cap.")
    weight = serializers.IntegerField(required=False, min_value=1, max_value=MAX_CAP,
                                      help_text="Share under contention.")
    active = serializers.BooleanField(
        required=False, help_text="false: the tenant can no longer enqueue, and its keys answer 403.")
    max_pending = _cap("Most waiting tasks (pending, scheduled, blocked); beyond it submissions answer 429. "
                       "null: no cap.")
    max_pending_age_seconds = _cap("Submissions answer 429 while the oldest due waiting task is older than this. "
                                   "null: no cap.")
    allowed_queues = serializers.ListField(
        child=serializers.CharField(max_length=MAX_QUEUE_CHARS, trim_whitespace=False), required=False,
        allow_null=True, max_length=MAX_QUEUES,
        help_text="Queues the tenant may submit to; [] or null: its own (its slug) and 'default'.")

    def validate_allowed_queues(self, value: list[str] | None) -> list[str]:
        try:
            return clean_queues(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None


def _operator_tenant(request: Request, slug: str) -> Tenant:
    # 403 before 404: a tenant key learns nothing about which slugs exist.
    if not scope.key_of(request).is_operator:
        raise Problem(403, "Only operator keys may read or change tenants.", kind="operator-only")
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise Problem(404, f"No tenant {slug!r}.", kind="not-found")
    return tenant


class TenantDetailView(StrictQuery, APIView):
    @extend_schema(operation_id="tenants_retrieve", responses={200: TenantSerializer,
                                                               **problem_responses(401, 403, 404)})
    def get(self, request: Request, slug: str) -> Response:
        return Response(TenantSerializer(_operator_tenant(request, slug)).data)

    @extend_schema(operation_id="tenants_update", request=TenantUpdateSerializer,
                   responses={200: TenantSerializer, **problem_responses(400, 401, 403, 404, 415)})
    def patch(self, request: Request, slug: str) -> Response:
        tenant = _operator_tenant(request, slug)
        data = scope.body_fields(request, TenantUpdateSerializer, "not a field that can be changed")
        changes.update(tenant, data)
        return Response(TenantSerializer(tenant).data)
