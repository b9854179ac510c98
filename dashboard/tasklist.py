"""The task list: filters, search, keyset pagination by id and bounded counts (never a COUNT over the table)."""

import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from django import forms
from django.db.models import Q
from django.http import QueryDict
from django.utils import timezone

from jobs.lifecycle import WAITING, Status
from jobs.models import Task, TaskQuerySet
from jobs.registry import registry
from tenants.models import Tenant

from . import formatting

#: Bulk confirmations count at most this many tasks (a LIMITed subquery), then say "more than".
COUNT_CAP = 100_000
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
#: Query parameters that define the filtered set (pagination and actions excluded).
FILTER_FIELDS = ("tenant", "type", "status", "priority", "queue", "created_from", "created_before", "q", "tz")
LIST_COLUMNS = ("id", "tenant_id", "queue", "type", "priority", "status", "attempts", "max_retries", "run_at",
                "created_at", "started_at", "finished_at", "cancel_requested", "worker")
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]


def zone_named(name: str | None) -> zoneinfo.ZoneInfo | None:
    if not name or len(name) > 64:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None


class TaskFilterForm(forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=255,
                        help_text="A task id, a type prefix or an idempotency key.")
    tenant = forms.ChoiceField(label="Tenant", required=False)
    type = forms.CharField(label="Type", required=False, max_length=100,
                           widget=forms.TextInput(attrs={"list": "task-types", "autocomplete": "off"}))
    status = forms.ChoiceField(label="Status", required=False, choices=[("", "Any status"), *Status.choices])
    priority = forms.TypedChoiceField(
        label="Priority", required=False, coerce=int, empty_value=None,
        choices=[("", "Any priority"), *((str(p), f"{p}{' (most urgent)' if p == 5 else ' (lowest)' if p == 1 else ''}")
                                         for p in range(5, 0, -1))],
    )
    queue = forms.CharField(label="Queue", required=False, max_length=64)
    created_from = forms.DateTimeField(label="Created from", required=False, input_formats=DATETIME_FORMATS,
                                       widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": 1}))
    created_before = forms.DateTimeField(label="Created before", required=False, input_formats=DATETIME_FORMATS,
                                         widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": 1}))
    #: The viewer's IANA zone, filled in by console.js; date inputs are read in it (UTC without it).
    tz = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput(attrs={"data-tz-field": ""}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tenants = dict(Tenant.objects.values_list("slug", "pk"))
        tenant_field = cast(forms.ChoiceField, self.fields["tenant"])
        tenant_field.choices = [("", "All tenants"), *((s, s) for s in sorted(self.tenants))]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("created_from"), data.get("created_before")
        if start and end and start >= end:
            self.add_error("created_before", "must be later than “Created from”")
        return data

    @property
    def zone_name(self) -> str:
        zone = zone_named(self.data.get("tz"))
        return str(zone) if zone else "UTC"


def bind_filters(data: QueryDict) -> TaskFilterForm:
    """Bind and validate the filters, reading dates in the viewer's zone (``tz``)."""
    form = TaskFilterForm(data)
    zone = zone_named(data.get("tz")) or zoneinfo.ZoneInfo("UTC")
    with timezone.override(zone):
        form.is_valid()
    return form


def active_filters(form: TaskFilterForm) -> dict[str, Any]:
    """The valid, non-empty filters (an invalid field is reported and ignored)."""
    cleaned = getattr(form, "cleaned_data", {})
    return {k: v for k, v in cleaned.items() if k != "tz" and v not in (None, "")}


def filtered_tasks(form: TaskFilterForm) -> TaskQuerySet:
    filters = active_filters(form)
    qs = Task.objects.all()
    if "tenant" in filters:
        qs = qs.filter(tenant_id=form.tenants.get(filters["tenant"], -1))
    if "type" in filters:
        qs = qs.filter(type=filters["type"].strip())
    if "status" in filters:
        qs = qs.filter(status=filters["status"])
    if "priority" in filters:
        qs = qs.filter(priority=filters["priority"])
    if "queue" in filters:
        qs = qs.filter(queue=filters["queue"].strip())
    if "created_from" in filters:
        qs = qs.filter(created_at__gte=filters["created_from"])
    if "created_before" in filters:
        qs = qs.filter(created_at__lt=filters["created_before"])
    if "q" in filters:
        value = filters["q"].strip()
        condition = Q(type__startswith=value) | Q(idempotency_key=value)
        number = formatting.whole_number(value.removeprefix("#"))
        if number is not None:
            condition = Q(pk=number) if value.startswith("#") else condition | Q(pk=number)
        qs = qs.filter(condition)
    return qs


def describe(form: TaskFilterForm) -> str:
    """The filters in words, for confirmations."""
    labels = {"q": "search", "created_from": "created from", "created_before": "created before"}
    parts = []
    for key, value in active_filters(form).items():
        shown = value.astimezone(zone_named(form.data.get("tz")) or zoneinfo.ZoneInfo("UTC")).strftime(
            "%Y-%m-%d %H:%M:%S %Z") if isinstance(value, datetime) else value
        parts.append(f"{labels.get(key, key)} = {shown}")
    return ", ".join(parts) or "no filters: every task"


def filter_query(data: QueryDict, **extra: Any) -> str:
    """The filter part of ``data`` as a query string, plus ``extra``."""
    query = QueryDict(mutable=True)
    for key in FILTER_FIELDS:
        for value in data.getlist(key):
            if value != "":
                query.appendlist(key, value)
    for key, value in extra.items():
        if value is not None:
            query[key] = str(value)
    return query.urlencode()


def _positive_int(raw: str | None) -> int | None:
    return formatting.whole_number(raw)


@dataclass
class Page:
    rows: list[Task]
    next_after: int | None
    prev_before: int | None
    size: int


def keyset_page(qs: TaskQuerySet, data: QueryDict) -> Page:
    """Newest first, ``size`` rows after id ``after`` (older) or before id ``before`` (newer); no COUNT."""
    size = _positive_int(data.get("size")) or PAGE_SIZE
    size = max(1, min(size, MAX_PAGE_SIZE))
    after, before = _positive_int(data.get("after")), _positive_int(data.get("before"))
    qs = qs.only(*LIST_COLUMNS)
    if before is not None and after is None:
        rows = list(qs.filter(pk__gt=before).order_by("id")[: size + 1])
        more_newer = len(rows) > size
        rows = rows[:size][::-1]
        if more_newer:
            return Page(rows, rows[-1].pk if rows else None, rows[0].pk if rows else None, size)
        if len(rows) == size:
            return Page(rows, rows[-1].pk if rows else None, None, size)
        after = None  # fewer than a page above: that is the first page
    elif after is not None:
        qs = qs.filter(pk__lt=after)
    rows = list(qs.order_by("-id")[: size + 1])
    more_older = len(rows) > size
    rows = rows[:size]
    return Page(rows, rows[-1].pk if more_older and rows else None,
                rows[0].pk if after is not None and rows else None, size)


def bounded_count(qs: TaskQuerySet) -> tuple[int, bool]:
    """At most ``COUNT_CAP`` (a LIMITed subquery); ``True`` when there are more."""
    n = qs.order_by()[: COUNT_CAP + 1].count()
    return min(n, COUNT_CAP), n > COUNT_CAP


def cancellable(qs: TaskQuerySet) -> TaskQuerySet:
    return qs.filter(Q(status__in=WAITING) | Q(status=Status.RUNNING, cancel_requested=False))


def retryable(qs: TaskQuerySet) -> TaskQuerySet:
    return qs.filter(status__in=(Status.FAILED, Status.CANCELLED))


def known_types() -> list[str]:
    return registry.names()
