"""Django admin for tasks, worker processes, pauses, resources, type grants and the audit log: read-only task
rows, state changes only as actions; pauses, resources and grants are written through their services
(``jobs.services.pauses``, ``.resources``, ``.grants``), which record them in the audit log; what the admin
writes itself (a task's delete, the task actions) it records in the same transaction."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import ActionLocation
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property

from tenants.adminaudit import AuditedAdmin

from .exceptions import InvalidResource
from .lifecycle import ACTIONS, Action
from .models import AuditEntry, Pause, Resource, Task, TypeGrant, WorkerProcess
from .services import audit, control, grants, listing, pauses, resources


class CappedCountPaginator(Paginator):
    """Counts at most ``listing.COUNT_CAP`` rows (a LIMITed subquery), never the whole table."""

    @cached_property
    def count(self) -> int:
        qs = self.object_list
        if isinstance(qs, QuerySet):
            n, more = listing.bounded_count(qs, listing.COUNT_CAP)
            return n + more  # one past the cap: the admin shows there are more pages
        return len(qs)


def _statuses(action: Action) -> str:
    return "/".join(ACTIONS[action])


@admin.register(Task)
class TaskAdmin(AuditedAdmin):
    audit_noun = "task"
    audit_records = ("delete",)  # nothing else is written by the admin: the actions record themselves
    list_display = ["id", "tenant", "type", "queue", "priority", "status", "attempts", "created_at", "finished_at"]
    list_filter = ["status", "priority", "queue", "tenant"]
    search_fields = ["=id", "type", "=idempotency_key"]
    list_select_related = ["tenant"]
    ordering = ["-id"]
    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 50
    actions = ["cancel_tasks", "requeue_tasks"]
    readonly_fields = [f.name for f in Task._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tasks are enqueued through the API, the shell or Python

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    @admin.action(description=f"Cancel selected {_statuses(Action.CANCEL)} tasks", permissions=["change"])
    def cancel_tasks(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        chosen = listing.actionable(queryset, Action.CANCEL)  # type: ignore[arg-type]
        with transaction.atomic():
            ids = list(chosen.values_list("pk", flat=True))
            done = control.cancel_matching(Task.objects.filter(pk__in=ids))
            audit.record("tasks.cancel", target=f"{len(ids)} selected task(s)", ids=ids,
                         counts={"matched": len(ids), "cancelled": done.cancelled,
                                 "asked_to_stop": done.asked_to_stop})
        self.message_user(request, f"Cancelled {done.cancelled} waiting task(s); asked {done.asked_to_stop} "
                                   "running task(s) to stop.", messages.SUCCESS)

    @admin.action(description=f"Requeue selected {_statuses(Action.REQUEUE)} tasks", permissions=["change"])
    def requeue_tasks(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        chosen = listing.actionable(queryset, Action.REQUEUE)  # type: ignore[arg-type]
        with transaction.atomic():
            ids = list(chosen.values_list("pk", flat=True))
            n = control.requeue_matching(Task.objects.filter(pk__in=ids))
            audit.record("tasks.requeue", target=f"{len(ids)} selected task(s)", ids=ids,
                         counts={"matched": len(ids), "requeued": n})
        self.message_user(request, f"Requeued {n} task(s).", messages.SUCCESS)


class WorkerProcessAdmin(admin.ModelAdmin):
    list_display = ["id", "instance", "pid", "threads", "queues", "state", "started_at", "last_heartbeat"]
    list_filter = ["instance", "state"]
    readonly_fields = [f.name for f in WorkerProcess._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class PauseForm(forms.ModelForm):
    class Meta:
        model = Pause
        fields = ["kind", "value", "reason"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.instance.pk is not None:
            return data  # only the reason can change
        try:
            # The store's own checks (a tenant that exists, a known type), so the admin says the same.
            pauses.validate(data.get("kind"), data.get("value"))
        except pauses.InvalidPause as exc:
            raise ValidationError({exc.field if exc.field in self.fields else "value": exc.message}) from None
        return data

    def validate_constraints(self) -> None:
        pass  # the unique (kind, value): pausing what is paused updates its reason, not an error


@admin.register(Pause)
class PauseAdmin(admin.ModelAdmin):
    """Adding is pausing, deleting is resuming: both through the service, so a resume unblocks."""

    list_display = ["kind", "value", "reason", "paused_by", "created_at"]
    list_filter = ["kind"]
    search_fields = ["value", "reason", "paused_by"]
    form = PauseForm
    actions = ["resume_selected"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # An existing pause's scope cannot change (that would be a resume and another pause).
        return ["kind", "value", "paused_by", "created_at"] if obj is not None else []

    def get_actions(self, request: HttpRequest, action_location: ActionLocation = ActionLocation.CHANGE_LIST) -> Any:
        found = super().get_actions(request, action_location)
        found.pop("delete_selected", None)  # a bulk delete would bypass the resume
        return found

    def save_model(self, request: HttpRequest, obj: Pause, form: Any, change: bool) -> None:
        info, _ = pauses.pause(obj.kind, obj.value, reason=obj.reason, by=f"admin {request.user.get_username()}")
        saved = Pause.objects.get(kind=info.kind, value=info.value)
        obj.pk, obj.paused_by, obj.created_at = saved.pk, saved.paused_by, saved.created_at

    def delete_model(self, request: HttpRequest, obj: Pause) -> None:
        n = self._resume(obj)
        self.message_user(request, f"Resumed {obj.kind} {obj.value}: {n} parked task(s) are pending again.",
                          messages.SUCCESS)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Pause]) -> None:
        for obj in list(queryset):
            self._resume(obj)

    @admin.action(description="Resume selected pauses", permissions=["delete"])
    def resume_selected(self, request: HttpRequest, queryset: QuerySet[Pause]) -> None:
        rows = list(queryset)
        n = sum(self._resume(obj) for obj in rows)
        self.message_user(request, f"Resumed {len(rows)} pause(s): {n} parked task(s) are pending again.",
                          messages.SUCCESS)

    @staticmethod
    def _resume(obj: Pause) -> int:
        try:
            return pauses.resume(obj.kind, obj.value)
        except pauses.NotPaused:
            return 0  # resumed meanwhile by someone else


class ResourceForm(forms.ModelForm):
    """The fields of a resource, checked by the service (the CLI's rules, one place)."""

    class Meta:
        model = Resource
        fields = ["name", "rate", "per_seconds", "per_tenant"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        name = data.get("name", self.instance.name if self.instance.pk else None)
        try:
            resources.check(name, data.get("rate"), data.get("per_seconds"))
        except InvalidResource as exc:
            field = {"per": "per_seconds"}.get(exc.field, exc.field)
            raise ValidationError({field if field in self.fields else NON_FIELD_ERRORS: exc.message}) from None
        return data


@admin.register(Resource)
class ResourceAdmin(admin.ModelAdmin):
    """Resources are written through ``jobs.services.resources`` (the CLI's path), never by the form itself."""

    form = ResourceForm
    list_display = ["name", "rate", "per_seconds", "per_tenant", "available_now", "updated_at"]
    search_fields = ["name"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["name"] if obj is not None else []  # a rename would orphan the tasks naming it

    @admin.display(description="Available now")
    def available_now(self, obj: Resource) -> str:
        if obj.per_tenant:
            return f"{obj.rate} per tenant"
        n, _ = resources.available(obj.name)
        return f"{n}/{obj.rate}"

    def save_model(self, request: HttpRequest, obj: Resource, form: Any, change: bool) -> None:
        saved, _ = resources.define(obj.name, rate=obj.rate, per_seconds=obj.per_seconds, per_tenant=obj.per_tenant)
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: Resource) -> None:
        resources.delete(obj.name)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Resource]) -> None:
        for name in queryset.values_list("name", flat=True):
            resources.delete(name)


class TypeGrantForm(forms.ModelForm):
    """A tenant and one of the registered listed types (the service's check, so the admin says the same)."""

    type = forms.ChoiceField(choices=(), help_text="A registered task type whose access is 'listed'.")

    class Meta:
        model = TypeGrant
        fields = ["tenant", "type"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Read at each form: the registry is complete only once every app's tasks module is imported.
        self.fields["type"].choices = [  # type: ignore[attr-defined]  # declared above as a ChoiceField
            (name, name) for name in grants.listed_types()]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("type"):
            try:
                grants.check(data["type"])
            except grants.InvalidGrant as exc:
                raise ValidationError({"type": exc.message}) from None
        return data


@admin.register(TypeGrant)
class TypeGrantAdmin(admin.ModelAdmin):
    """Adding grants, deleting revokes (``jobs.services.grants``); a grant is never edited, only replaced."""

    form = TypeGrantForm
    list_display = ["type", "tenant", "created_at"]
    list_filter = ["type"]
    search_fields = ["type", "tenant__slug"]
    list_select_related = ["tenant"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: TypeGrant, form: Any, change: bool) -> None:
        saved, _ = grants.grant(obj.tenant, obj.type)
        obj.pk, obj.created_at = saved.pk, saved.created_at

    def delete_model(self, request: HttpRequest, obj: TypeGrant) -> None:
        grants.revoke(obj.tenant, obj.type)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[TypeGrant]) -> None:
        for grant in queryset.select_related("tenant"):
            grants.revoke(grant.tenant, grant.type)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: the log is immutable from the product (only pruning removes entries)."""

    list_display = ["at", "actor", "source", "address", "action", "target", "tenant"]
    list_filter = ["action", "source", "actor_kind"]
    search_fields = ["actor", "action", "target"]
    list_select_related = ["tenant"]
    ordering = ["-at", "-id"]
    paginator = CappedCountPaginator
    show_full_result_count = False
    readonly_fields = [f.name for f in AuditEntry._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# Their own modules (300 lines each), imported for their registrations.
from . import admin_schedules, admin_webhooks  # noqa: E402, F401 — register ScheduleAdmin, WebhookAdmin
