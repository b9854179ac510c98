"""The console's rendering of the task list: the API's filters (``jobs.services.listing``)
as a search form read in the viewer's time zone, keyset pages and filter query strings.
"""

import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from django import forms
from django.core.validators import MaxLengthValidator
from django.db.models import F
from django.http import QueryDict
from django.utils import timezone

from jobs import clock, spec
from jobs.lifecycle import Status
from jobs.models import Task, TaskQuerySet
from jobs.services import listing, scan, why
from tenants.models import Tenant

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
PAGE_SIZES = (25, 50, 100, 200)
#: The list counts its matches this far, then says "1,000+" (a LIMITed count, never a scan).
TOTAL_CAP = 1_000
#: Query parameters that define the filtered set (pagination and actions excluded).
FILTER_FIELDS = ("tenant", "type", "status", "retrying", "why", "priority", "queue", "worker", "error", "within",
                 "created_after", "created_before", "q", "tz")
#: The list's parameters besides the filters, kept across pages and filter changes.
VIEW_FIELDS = ("sort", "size")
LIST_COLUMNS = ("id", "tenant_id", "queue", "type", "priority", "status", "attempts", "max_retries", "run_at",
                "created_at", "started_at", "finished_at", "cancel_requested", "worker", "interrupted", "snoozed",
                "blocked_on", "errors")
LABELS = {"q": "Search", "tenant": "Tenant", "type": "Type", "status": "Status", "priority": "Priority",
          "queue": "Queue", "retrying": "Scheduled as", "worker": "Worker", "error": "Error text",
          "within": "Created within",
          "created_after": "Created from", "created_before": "Created before", "why": "Why"}
MAX_CHARS = {"q": 255, "type": 100, "queue": spec.MAX_QUEUE_CHARS}
#: Time presets: a moving window, fixed to a moment when a bulk action is confirmed.
WITHIN = {"15m": ("last 15 minutes", timedelta(minutes=15)), "1h": ("last hour", timedelta(hours=1)),
          "24h": ("last 24 hours", timedelta(hours=24)), "7d": ("last 7 days", timedelta(days=7))}
#: Sort orders. By id they walk the keyset; by start or duration no index serves them, so they
#: sort the newest ``scan.SCAN_ROWS`` tasks (the page says so), with page numbers.
SORTS = {"-created": "Newest first", "created": "Oldest first", "-started": "Started most recently",
         "-duration": "Longest running"}
PRIORITIES = [("", "Any priority"), *((str(p), f"{p}{' (most urgent)' if p == 5 else ' (lowest)' if p == 1 else ''}")
                                      for p in range(5, 0, -1))]


def zone_named(name: str | None) -> zoneinfo.ZoneInfo | None:
    if not name or len(name) > 64:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None


class StatusSelect(listing.ReadsStatusList, forms.Select):
    """One status from a menu, read as the filter's status list."""


class TaskFilterForm(forms.Form):
    """The console's widgets and labels for the shared filters, plus the viewer's zone."""

    #: The viewer's IANA zone, filled in by console.js; date inputs are read in it (UTC without it).
    tz = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput(attrs={"data-tz-field": ""}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tenants = sorted(Tenant.objects.values_list("slug", flat=True))
        self.fields["within"] = forms.ChoiceField(
            label="Created within", required=False,
            choices=[("", "Any time"), *((k, label) for k, (label, _) in WITHIN.items())])
        for name, label in LABELS.items():
            self.fields[name].label = label
        for name, chars in MAX_CHARS.items():
            self.fields[name].validators.append(MaxLengthValidator(chars))
            self.fields[name].widget.attrs["maxlength"] = str(chars)
        self.fields["tenant"] = forms.ChoiceField(label="Tenant", required=False,
                                                  choices=[("", "All tenants"), *((s, s) for s in self.tenants)])
        self.fields["type"].widget.attrs.update({"list": "task-types", "autocomplete": "off"})
        self.fields["status"].widget = StatusSelect(choices=[("", "Any status"), *Status.choices])
        self.fields["priority"].widget = forms.Select(choices=PRIORITIES)
        self.fields["worker"].widget.attrs.update({"placeholder": "host or host:pid"})
        cast(forms.ChoiceField, self.fields["retrying"]).choices = [
            ("", "Any"), ("yes", "Retrying (back-off after a failed run)"), ("no", "Not retrying (delayed, run_at)")]
        self.fields["why"].widget = forms.Select(choices=[("", "Any reason"), *((c, c.replace("_", " "))
                                                                             for c in why.CODES)])
        for name in ("created_after", "created_before"):
            self.fields[name].widget = forms.DateTimeInput(attrs={"type": "datetime-local", "step": 1})
            cast(forms.DateTimeField, self.fields[name]).input_formats = [
                "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("created_after"), data.get("created_before")
        if start and end and start >= end:
            self.add_error("created_before", "must be later than “Created from”")
        return data

    @property
    def zone_name(self) -> str:
        zone = zone_named(self.data.get("tz"))
        return str(zone) if zone else "UTC"


class ConsoleTaskFilter(listing.TaskFilter):
    class Meta:
        form = TaskFilterForm

    def filter_queryset(self, queryset: Any) -> Any:
        queryset = super().filter_queryset(queryset)
        since = within_start(self.form.cleaned_data.get("within"))
        return queryset.filter(created_at__gte=since) if since else queryset


def within_start(preset: str | None) -> datetime | None:
    """The moment a time preset starts from, now."""
    return clock.now() - WITHIN[preset][1] if preset in WITHIN else None


def bind_filters(data: QueryDict) -> ConsoleTaskFilter:
    """Bind and validate the filters, reading dates in the viewer's zone (``tz``)."""
    filters = ConsoleTaskFilter(data, queryset=Task.objects.all())
    with timezone.override(zone_named(data.get("tz")) or zoneinfo.ZoneInfo("UTC")):
        filters.is_valid()
    return filters


def active_filters(filters: ConsoleTaskFilter) -> dict[str, Any]:
    """The valid, non-empty filters (an invalid field is reported and ignored)."""
    cleaned = getattr(filters.form, "cleaned_data", {})
    return {k: v for k, v in cleaned.items() if k != "tz" and v not in (None, "", [])}


def filter_spec(filters: ConsoleTaskFilter) -> dict[str, str]:
    """The valid filters as the shared ``TaskFilter`` reads them anywhere (dates as ISO with their
    offset, so a background job reads the same moments without the viewer's zone)."""
    spec = {}
    active = active_filters(filters)
    since = within_start(active.pop("within", None))
    if since and (not active.get("created_after") or active["created_after"] < since):
        active["created_after"] = since
    for key, value in active.items():
        if isinstance(value, datetime):
            spec[key] = value.isoformat()
        elif isinstance(value, list):
            spec[key] = ",".join(str(v) for v in value)
        else:
            spec[key] = str(value)
    return spec


def filtered_tasks(filters: ConsoleTaskFilter) -> TaskQuerySet:
    return cast(TaskQuerySet, filters.qs)


def describe(filters: ConsoleTaskFilter) -> str:
    """The filters in words, for confirmations."""
    zone = zone_named(filters.form.data.get("tz")) or zoneinfo.ZoneInfo("UTC")
    active = active_filters(filters)
    parts = []
    for key in sorted(active, key=lambda k: list(LABELS).index(k) if k in LABELS else len(LABELS)):
        value = active[key]
        if isinstance(value, datetime):
            value = value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")
        elif isinstance(value, list):
            value = ", ".join(value)
        elif key == "within":
            value = WITHIN[value][0]
        elif key == "retrying":
            value = "retrying" if value == "yes" else "not retrying"
        parts.append(f"{LABELS.get(key, key).lower()} = {value}")
    return ", ".join(parts) or "no filters: every task"


def filter_query(data: QueryDict, **extra: Any) -> str:
    """The filter part of ``data`` as a query string, plus ``extra``."""
    query = QueryDict(mutable=True)
    for key in (*FILTER_FIELDS, *VIEW_FIELDS):
        for value in data.getlist(key):
            if value != "":
                query.appendlist(key, value)
    for key, value in extra.items():
        query.pop(key, None)
        if value is not None:
            query[key] = str(value)
    return query.urlencode()


def revision(task: Task) -> str:
    """What a live row or task page compares to know it is out of date (status, stop asked, attempts)."""
    return f"{task.status}.{int(task.cancel_requested)}.{task.attempts}"


def page_size(data: QueryDict) -> int:
    return max(1, min(listing.int_or_none(data.get("size")) or PAGE_SIZE, MAX_PAGE_SIZE))


def sort_of(data: QueryDict) -> str:
    sort = data.get("sort") or "-created"
    return sort if sort in SORTS else "-created"


def keyset_page(qs: TaskQuerySet, data: QueryDict) -> listing.Page:
    """By id (newest or oldest first), ``size`` rows after id ``after`` or before id ``before``; no COUNT."""
    size, after = page_size(data), listing.int_or_none(data.get("after"))
    before = listing.int_or_none(data.get("before"))
    qs = qs.only(*LIST_COLUMNS)
    if sort_of(data) == "created":
        # Oldest first is the keyset walked upwards: "after" continues to newer ids.
        rows, more = listing.keyset(qs, size=size, after=after, descending=False)
        return listing.Page(rows, rows[-1].pk if more and rows else None, None, size)
    return listing.page(qs, size=size, after=after, before=before)


@dataclass
class SortedPage:
    """A page of a sort no index serves: page numbers over the newest ``scan.SCAN_ROWS`` tasks."""

    rows: list[Task]
    number: int
    matched: int
    cut: bool
    size: int

    @property
    def has_next(self) -> bool:
        return self.number * self.size < self.matched


def sorted_page(base: TaskQuerySet, qs: TaskQuerySet, data: QueryDict) -> SortedPage:
    size, sort = page_size(data), sort_of(data)
    number = max(1, min(listing.int_or_none(data.get("page")) or 1, scan.SCAN_ROWS))
    if sort == "-duration":
        qs = qs.filter(finished_at__isnull=False, started_at__isnull=False).annotate(
            duration=F("finished_at") - F("started_at"))
        key = "duration"
    else:
        qs, key = qs.filter(started_at__isnull=False), "started_at"
    rows, matched, cut = scan.page(base.only(*LIST_COLUMNS), qs, sort=key, descending=True,
                                   offset=(number - 1) * size, size=size)
    return SortedPage(rows, number, matched, cut, size)
