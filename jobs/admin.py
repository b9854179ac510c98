"""Django admin for tasks and worker processes (read-only rows, state changes only as actions) and resources."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property

from .exceptions import InvalidResource
from .lifecycle import ACTIONS, Action
from .models import Resource, Task, WorkerProcess
from .services import control, listing, resources


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
class TaskAdmin(admin.ModelAdmin):
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
        done = control.cancel_matching(listing.actionable(queryset, Action.CANCEL))  # type: ignore[arg-type]
        self.message_user(request, f"Cancelled {done.cancelled} waiting task(s); asked {done.asked_to_stop} "
                                   "running task(s) to stop.", messages.SUCCESS)

    @admin.action(description=f"Requeue selected {_statuses(Action.REQUEUE)} tasks", permissions=["change"])
    def requeue_tasks(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        n = control.requeue_matching(listing.actionable(queryset, Action.REQUEUE))  # type: ignore[arg-type]
        self.message_user(request, f"Requeued {n} task(s).", messages.SUCCESS)


class WorkerProcessAdmin(admin.ModelAdmin):
    list_display = ["id", "instance", "pid", "threads", "queues", "state", "started_at", "last_heartbeat"]
    list_filter = ["instance", "state"]
    readonly_fields = [f.name for f in WorkerProcess._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


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
