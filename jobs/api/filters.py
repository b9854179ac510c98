"""Query-string filters of GET /api/tasks (invalid values answer 400 naming the parameter)."""

from datetime import UTC
from typing import Any

import django_filters
from django.db.models import Q, QuerySet
from rest_framework.exceptions import ValidationError

from ..lifecycle import Status


class CommaList(django_filters.BaseInFilter, django_filters.CharFilter):
    """``status=pending,running`` (also ``status=pending&status=running``)."""


class TaskFilter(django_filters.FilterSet):
    status = CommaList(field_name="status", lookup_expr="in", help_text="One or more statuses, comma-separated.")
    type = django_filters.CharFilter(field_name="type")
    priority = django_filters.NumberFilter(field_name="priority", help_text="1 … 5")
    queue = django_filters.CharFilter(field_name="queue")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    finished_after = django_filters.IsoDateTimeFilter(field_name="finished_at", lookup_expr="gte")
    finished_before = django_filters.IsoDateTimeFilter(field_name="finished_at", lookup_expr="lt")
    q = django_filters.CharFilter(method="search", help_text="A task id, a type prefix or an idempotency key.")
    tenant = django_filters.CharFilter(field_name="tenant__slug", help_text="Operators with all=true: one tenant.")

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        statuses = self.data.getlist("status") if hasattr(self.data, "getlist") else []
        values = [v.strip() for raw in statuses for v in raw.split(",") if v.strip()]
        bad = [v for v in values if v not in Status.values]
        if bad:
            raise ValidationError({"status": f"unknown status {bad[0]!r}; one of {', '.join(Status.values)}"})
        for name in ("created_after", "created_before", "finished_after", "finished_before"):
            moment = self.form.cleaned_data.get(name)
            if moment is not None:
                try:
                    moment.astimezone(UTC)
                except OverflowError:
                    raise ValidationError({name: "is out of range"}) from None
        priority = self.form.cleaned_data.get("priority")
        if priority is not None and (priority != int(priority) or not 1 <= priority <= 5):
            raise ValidationError({"priority": "must be an integer between 1 and 5"})
        if values:
            queryset = queryset.filter(status__in=values)
            self.form.cleaned_data["status"] = None
        return super().filter_queryset(queryset)

    def search(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        value = value.strip()
        if not value:
            return queryset
        condition = Q(type__startswith=value) | Q(idempotency_key=value)
        if value.isascii() and value.isdigit() and len(value) < 19:
            condition |= Q(pk=int(value))
        return queryset.filter(condition)
