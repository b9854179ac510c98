"""Webhook endpoints of the key's tenant: create (the signing secret shown once), list, read, delete."""

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ... import actor
from ...models import Webhook
from ...models.webhooks import EVENTS
from ...services import webhooks
from .. import scope
from ..errors import Problem, problem_responses
from ..params import StrictQuery
from ..representation import when


class DeliverySerializer(serializers.Serializer[Any]):
    task = serializers.IntegerField(help_text="The delivery's own task (GET /api/tasks/{id}: attempts, errors).")
    event = serializers.CharField()
    source_task = serializers.IntegerField(help_text="The task whose outcome it notifies.")
    status = serializers.CharField(help_text="completed: sent and answered 2xx; scheduled: waiting to retry; "
                                             "failed: dead-lettered.")
    attempts = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class WebhookSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    tenant = serializers.CharField(help_text="The tenant's slug.")
    url = serializers.CharField()
    events = serializers.ListField(child=serializers.ChoiceField(choices=EVENTS))
    active = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class WebhookDetailSerializer(WebhookSerializer):
    deliveries = DeliverySerializer(many=True, help_text="The latest deliveries, newest first (up to 20, among the "
                                                         "tenant's newest 10,000 tasks).")


class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.CharField(help_text="The HMAC-SHA256 key of Webhook-Signature. Shown only in this answer.")


class WebhookListSerializer(serializers.Serializer[Any]):
    data = WebhookSerializer(many=True)  # type: ignore[assignment]  # popped by the metaclass


class WebhookCreateSerializer(serializers.Serializer[Any]):
    """Documents ``POST /api/webhooks`` and checks its shape; the service checks the values, naming every
    invalid field at once."""

    url = serializers.CharField(help_text="http or https, at most 2000 characters; in production not a private, "
                                          "loopback, link-local, multicast or reserved address.")
    events = serializers.ListField(child=serializers.CharField(), help_text=f"Some of: {', '.join(EVENTS)}.")


def _data(hook: Webhook) -> dict[str, Any]:
    return {"id": hook.pk, "tenant": hook.tenant.slug, "url": hook.url, "events": list(hook.events),
            "active": hook.active, "created_at": when(hook.created_at)}


def _detail(hook: Webhook) -> dict[str, Any]:
    return {**_data(hook), "deliveries": [
        {"task": t.pk, "event": t.payload.get("event"), "source_task": t.payload.get("task"), "status": t.status,
         "attempts": t.attempts, "created_at": when(t.created_at)} for t in webhooks.deliveries(hook)]}


def _found(request: Request, pk: int) -> Webhook:
    hook = webhooks.find(pk, scope.tenant_ids(request))
    if hook is None:
        raise Problem(404, f"No webhook {pk}.", kind="not-found")
    return hook


def _as_key(request: Request) -> actor.Actor:
    """The request's key as the audit log's actor."""
    return actor.key(scope.key_of(request).prefix, address=actor.current().address)


ALL = OpenApiParameter("all", bool, description="Operator keys: every tenant's endpoints.")


class WebhookListView(StrictQuery, APIView):
    extra_query_params = ("all",)

    @extend_schema(operation_id="webhooks_list", summary="List the tenant's webhook endpoints (no secrets)",
                   parameters=[ALL], responses={200: WebhookListSerializer, **problem_responses(400, 401, 403)})
    def get(self, request: Request) -> Response:
        return Response({"data": [_data(h) for h in webhooks.of_tenants(scope.tenant_ids(request))]})

    @extend_schema(
        operation_id="webhooks_create", summary="Create a webhook endpoint; the answer holds its secret, once",
        request=WebhookCreateSerializer,
        responses={201: WebhookCreatedSerializer, **problem_responses(400, 401, 415)},
    )
    def post(self, request: Request) -> Response:
        data = scope.body_fields(request, WebhookCreateSerializer, "not a field of a webhook")
        tenant = scope.own_tenant(request)
        try:
            with actor.acting(_as_key(request)):
                hook, secret = webhooks.create(tenant, data["url"], data["events"])
        except webhooks.Invalid as exc:
            raise ValidationError({e.field: e.message for e in exc.errors}) from None
        hook.tenant = tenant
        # no-store: the secret is shown once, is never cached, and is never gzipped (BREACH).
        return Response({**_data(hook), "secret": secret}, status=201,
                        headers={"Location": f"/api/webhooks/{hook.pk}", "Cache-Control": "no-store"})


class WebhookDetailView(StrictQuery, APIView):
    extra_query_params = ("all",)

    @extend_schema(operation_id="webhooks_retrieve", summary="Read a webhook endpoint and its latest deliveries",
                   parameters=[ALL], responses={200: WebhookDetailSerializer, **problem_responses(400, 401, 403, 404)})
    def get(self, request: Request, pk: int) -> Response:
        return Response(_detail(_found(request, pk)))

    @extend_schema(operation_id="webhooks_destroy", summary="Delete a webhook endpoint (queued deliveries end unsent)",
                   parameters=[ALL], responses={204: None, **problem_responses(400, 401, 403, 404)})
    def delete(self, request: Request, pk: int) -> Response:
        hook = _found(request, pk)
        with actor.acting(_as_key(request)):
            webhooks.delete(hook)
        return Response(status=204)
