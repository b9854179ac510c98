from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers

from . import changes, keys
from .adminaudit import AuditedAdmin
from .models import ApiKey, Tenant
from .queues import QueueListField

#: What a key is (whose, and whether it speaks for every tenant) is fixed when it is issued.
FIXED_AFTER_ISSUE = ["tenant", "is_operator"]


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    extra = 0
    fields = ["prefix", "name", "is_operator", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "is_operator", "created_at", "last_used_at", "revoked_at"]
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # new keys go through the API key page, which shows the secret once


class TenantAdminForm(forms.ModelForm):
    allowed_queues = QueueListField()

    class Meta:
        model = Tenant
        fields = ["name", "slug", "weight", "max_running", "rate_limit", "rate_window_seconds", "max_pending",
                  "max_pending_age_seconds", "allowed_queues", "active"]


@admin.register(Tenant)
class TenantAdmin(AuditedAdmin):
    """Saves go through ``tenants.changes`` (which records them); the mixin records deletes."""

    form = TenantAdminForm
    audit_noun = "tenant"
    audit_records = ("delete",)
    list_display = ["slug", "name", "weight", "max_running", "rate_limit", "rate_window_seconds", "max_pending",
                    "max_pending_age_seconds", "active", "created_at"]
    list_filter = ["active"]
    search_fields = ["slug", "name"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [ApiKeyInline]

    def audit_tenant(self, obj: Any) -> Any:
        return obj.pk

    def audit_target(self, obj: Any) -> str:
        return f"tenant {obj.slug}"

    def save_model(self, request: HttpRequest, obj: Tenant, form: Any, change: bool) -> None:
        if change:
            # Every field of the form, not form.changed_data: a field with a callable default (max_running)
            # compares against a hidden initial the POST may lack. The change keeps those that differ.
            changes.update(obj, {name: getattr(obj, name) for name in form.fields if name in changes.FIELDS})
        else:
            changes.create(obj)


@admin.register(ApiKey)
class ApiKeyAdmin(AuditedAdmin):
    """Issuing and revoking go through ``tenants.keys`` (which records them); the mixin records renames and deletes."""

    audit_noun = "key"
    audit_records = ("update", "delete")

    def audit_target(self, obj: Any) -> str:
        return f"key {obj.prefix}"  # as tenants.keys names it (the prefix, never the secret)
    list_display = ["prefix", "tenant", "name", "is_operator", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["is_operator", "tenant"]
    search_fields = ["prefix", "name", "tenant__slug"]
    actions = ["revoke"]

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        if obj is None:
            return ["tenant", "name", "is_operator"]
        return ["tenant", "name", "is_operator", "prefix", "created_at", "last_used_at", "revoked_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        # Read-only fields are left out of the form, so a forged POST value is ignored.
        if obj is not None:
            return [*FIXED_AFTER_ISSUE, "prefix", "created_at", "last_used_at", "revoked_at"]
        return [] if request.user.has_perm(keys.OPERATOR_PERMISSION) else ["is_operator"]

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            keys.forget(obj.prefix)
            return
        if obj.is_operator and not request.user.has_perm(keys.OPERATOR_PERMISSION):
            raise PermissionDenied
        # Only for response_add, in this request: never the messages framework (a cookie or the session).
        obj._new_secret = keys.save_new(obj)  # type: ignore[attr-defined]

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None) -> HttpResponse:
        """Show the new secret once, in this response only (not cached, not stored)."""
        context = {
            **self.admin_site.each_context(request), "opts": self.opts, "title": "API key created",
            "key": obj, "secret": getattr(obj, "_new_secret", ""),
        }
        response = TemplateResponse(request, "admin/tenants/apikey/created.html", context)
        add_never_cache_headers(response)
        return response

    def delete_model(self, request: HttpRequest, obj: ApiKey) -> None:
        super().delete_model(request, obj)
        keys.forget(obj.prefix)  # else this process trusts the deleted key until its cache lapses

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        prefixes = list(queryset.values_list("prefix", flat=True))
        super().delete_queryset(request, queryset)
        for prefix in prefixes:
            keys.forget(prefix)

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for key in queryset.filter(revoked_at__isnull=True):
            keys.revoke(key)
        self.message_user(request, "Revoked.", messages.SUCCESS)
