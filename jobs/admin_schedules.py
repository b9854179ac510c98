"""Django admin for schedules: the form is checked by ``jobs.services.schedule_specs.clean`` (the rules of
every entry point) and saves go through ``jobs.services.schedules``, audited as the admin user."""

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from . import actor
from .exceptions import InvalidTask
from .models import Schedule, ScheduleTick
from .services import schedule_specs, schedules

#: The definition's fields, as the form edits them.
EDITED = ["name", "tenant", "type", "cron", "every", "timezone", "payload", "priority", "queue", "options", "missed",
          "missed_limit", "enabled"]


class ScheduleForm(forms.ModelForm):
    every = forms.CharField(required=False, help_text="Instead of cron: 30s, 5m, 1h, 1d or seconds.")

    class Meta:
        model = Schedule
        fields = EDITED

    def definition(self) -> dict[str, Any]:
        data = {f: self.cleaned_data.get(f) for f in EDITED if f != "name" and f in self.cleaned_data}
        data["every"] = data.get("every") or None
        data["cron"] = data.get("cron") or ""
        return data

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors:
            try:
                if not self.instance.pk:
                    schedule_specs.check_name(data.get("name"))
                columns = schedule_specs.clean(self.definition())
            except InvalidTask as exc:
                field = exc.field.split(".")[0]
                raise ValidationError({field if field in self.fields else NON_FIELD_ERRORS: exc.message}) from None
            # The model's own checks (cron or every) then see the columns as the service will save them.
            data.update(cron=columns["cron"], every=columns["every"], timezone=columns["timezone"])
        return data


class TickInline(admin.TabularInline):
    model = ScheduleTick
    fields = readonly_fields = ("tick_at", "fired_at", "task", "skipped", "manual", "error")
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ["-tick_at"]

    # Shown, never written: the firing records ticks.
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    form = ScheduleForm
    list_display = ["name", "tenant", "type", "cron", "every", "timezone", "enabled", "next_run_at", "last_run_at",
                    "source"]
    list_filter = ["enabled", "source", "missed"]
    search_fields = ["name", "type", "tenant__slug"]
    list_select_related = ["tenant"]
    readonly_fields = ["source", "next_run_at", "last_run_at", "created_at", "updated_at"]
    inlines = [TickInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [*self.readonly_fields, *(["name"] if obj is not None else [])]

    def _as(self, request: HttpRequest) -> actor.Actor:
        return actor.user(request.user.get_username(), source="admin", address=actor.current().address)

    def save_model(self, request: HttpRequest, obj: Schedule, form: Any, change: bool) -> None:
        with actor.acting(self._as(request)):
            saved = (schedules.update(obj.name, form.definition()) if change
                     else schedules.create(obj.name, form.definition()))
        obj.pk = saved.pk
        obj.refresh_from_db()

    def delete_model(self, request: HttpRequest, obj: Schedule) -> None:
        with actor.acting(self._as(request)):
            schedules.delete(obj.name)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Schedule]) -> None:
        with actor.acting(self._as(request)):
            for name in queryset.values_list("name", flat=True):
                schedules.delete(name)
