"""Django admin for webhook endpoints: read them, switch one off or on (audited), delete through
``jobs.services.webhooks`` (audited). No add form: an endpoint's secret is shown once, in the answer
that creates it (the API or the console), and the admin's messages would keep it in the session."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from tenants.adminaudit import AuditedAdmin

from .models import Webhook
from .services import webhooks


@admin.register(Webhook)
class WebhookAdmin(AuditedAdmin):
    audit_noun = "webhook"
    audit_records = ("update",)  # deletes go through the service, which records them
    list_display = ["id", "tenant", "url", "events", "active", "created_at"]
    list_filter = ["active", "tenant"]
    list_select_related = ["tenant"]
    search_fields = ["url"]
    fields = ["tenant", "url", "events", "active", "created_at"]
    # The target was checked by the SSRF guard when it was created: it is not edited here.
    readonly_fields = ["tenant", "url", "events", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Webhook, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        webhooks.forget_subscriptions()

    def delete_model(self, request: HttpRequest, obj: Webhook) -> None:
        webhooks.delete(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Webhook]) -> None:
        for hook in queryset:
            webhooks.delete(hook)
