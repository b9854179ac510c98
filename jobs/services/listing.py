"""One read model for the API and the console: the task filters (a FilterSet both
render), keyset pages by id, bounded counts, the tasks an operator action would change,
and the one parser of integer query parameters.

Nothing here counts the whole task table or pages with OFFSET over millions of rows:
counts are LIMITed subqueries and pages walk the primary key. API list requests whose filters
or sort no index serves in order read a bounded window instead (``jobs.services.scan``).
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet

from ..lifecycle import ACTIONS, Action, Status, actions_for
from ..models import Task, TaskQuerySet
from . import why

#: Listings (API pages, the admin) count at most this many matches, then say "more".
COUNT_CAP = 10_000
#: Page-number pages end here (page × page_size): an OFFSET reads every row it skips, so deeper
#: pages are cursor (keyset) pages. Equal to the count cap: past it no page number is known anyway.
MAX_OFFSET_ROWS = COUNT_CAP
#: Confirmations of an action on a whole set (console bulk, dead letter) count this far.
ACTION_COUNT_CAP = 100_000
#: The largest id a parameter may name (BIGINT): anything larger matches nothing.
MAX_ID = 2**63 - 1
_INTEGER = re.compile(r"[+-]?[0-9]+")  # ASCII only: '²'.isdigit() is true, int('²') raises


class InvalidParam(ValueError):
    """A query parameter that is not what it must be (the API answers 400 naming it)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


def parse_int(raw: object, name: str = "value", *, low: int = 0, high: int | None = None,
              default: int | None = None) -> int | None:
    """``raw`` as an int in ``[low, high]``; ``default`` when absent or blank, else ``InvalidParam``."""
    text = "" if raw is None else str(raw).strip()
    if not text:
        return default
    try:
        value = int(text) if _INTEGER.fullmatch(text) else None
    except ValueError:  # more digits than int() converts
        value = None
    if value is None:
        raise InvalidParam(name, "must be an integer")
    if value < low or (high is not None and value > high):
        raise InvalidParam(name, f"must be between {low} and {high}" if high is not None
                           else f"must be at least {low}")
    return value


def int_or_none(raw: object, *, low: int = 0, high: int = MAX_ID) -> int | None:
    """``parse_int`` that reads anything invalid as absent (console links, the search box)."""
    try:
        return parse_int(raw, low=low, high=high)
    except InvalidParam:
        return None


# --------------------------------------------------------------------------- filters


class ReadsStatusList:
    """A widget reading ``status=a,b`` and ``status=a&status=b`` alike, as one list."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> list[str] | None:
        if name not in data:
            return None
        raw = data.getlist(name) if hasattr(data, "getlist") else [data.get(name)]
        return [v.strip() for item in raw if item for v in str(item).split(",") if v.strip()]


class StatusListInput(ReadsStatusList, forms.TextInput):
    pass


class StatusListField(forms.Field):
    widget = StatusListInput

    def to_python(self, value: Any) -> list[str]:
        return list(value or [])

    def validate(self, value: list[str]) -> None:
        bad = [v for v in value if v not in Status.values]
        if bad:
            # The value goes in as a parameter: a '%' in it must not reach the message's formatting.
            raise forms.ValidationError("unknown status %(value)r; one of %(choices)s",
                                        params={"value": bad[0], "choices": ", ".join(Status.values)})


class StatusFilter(django_filters.Filter):
    field_class = StatusListField

    def filter(self, qs: QuerySet[Any], value: list[str]) -> QuerySet[Any]:
        return qs.filter(status__in=value) if value else qs


class MomentField(django_filters.fields.IsoDateTimeField):
    """ISO 8601 (or a bare date); a moment with no UTC equivalent is invalid, not a 500."""

    input_formats = [django_filters.fields.IsoDateTimeField.ISO_8601, "%Y-%m-%d"]

    def to_python(self, value: Any) -> datetime | None:
        moment = super().to_python(value)
        if moment is not None:
            try:
                moment.astimezone(UTC)
            except OverflowError:
                raise forms.ValidationError("is out of range") from None
        return moment


class MomentFilter(django_filters.Filter):
    field_class = MomentField


PRIORITY_ERROR = "must be an integer between 1 and 5"


class PriorityFilter(django_filters.Filter):
    field_class = forms.IntegerField


class TaskFilter(django_filters.FilterSet):
    """The task filters of ``GET /api/tasks`` and the console's task list."""

    status = StatusFilter(help_text="One or more statuses, comma-separated.")
    type = django_filters.CharFilter(field_name="type")
    priority = PriorityFilter(
        field_name="priority", min_value=1, max_value=5, help_text="1 … 5",
        error_messages={"invalid": PRIORITY_ERROR, "min_value": PRIORITY_ERROR, "max_value": PRIORITY_ERROR},
    )
    queue = django_filters.CharFilter(field_name="queue")
    created_after = MomentFilter(field_name="created_at", lookup_expr="gte")
    created_before = MomentFilter(field_name="created_at", lookup_expr="lt")
    finished_after = MomentFilter(field_name="finished_at", lookup_expr="gte")
    finished_before = MomentFilter(field_name="finished_at", lookup_expr="lt")
    q = django_filters.CharFilter(method="search", help_text="A task id, a type prefix or an idempotency key.")
    tenant = django_filters.CharFilter(field_name="tenant__slug", help_text="One tenant (by slug).")
    why = django_filters.ChoiceFilter(choices=[(c, c) for c in why.CODES], method="by_reason",
                                      help_text="The reason code GET /api/tasks/{id}/why would answer.")
    worker = django_filters.CharFilter(field_name="worker", lookup_expr="startswith", max_length=120,
                                       help_text="The last worker holding the task: a name or its prefix (a host).")
    error = django_filters.CharFilter(field_name="errors", lookup_expr="icontains", max_length=200,
                                      help_text="Text in any recorded error (type, message or traceback).")
    retrying = django_filters.ChoiceFilter(
        choices=[("yes", "Retrying (back-off after a failed run)"), ("no", "Not retrying")], method="by_retrying",
        help_text="yes: scheduled tasks waiting out a retry's back-off; no: every other task.")

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        """Apply the valid filters; an invalid one is left out (the API answers 400 before)."""
        cleaned = self.form.cleaned_data
        for name, f in self.filters.items():
            if name in cleaned:
                queryset = f.filter(queryset, cleaned[name])
        return queryset

    def by_retrying(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return queryset.filter(RETRYING) if value == "yes" else queryset.exclude(RETRYING)

    def by_reason(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return why.matching(queryset, value)  # type: ignore[arg-type]

    def search(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        """A task id (``123`` or ``#123``), a type prefix or an idempotency key."""
        condition = Q(type__startswith=value) | Q(idempotency_key=value)
        number = int_or_none(value.removeprefix("#"))
        if number is not None:
            condition |= Q(pk=number)
        return queryset.filter(condition)


# --------------------------------------------------------------------------- retrying

#: A scheduled task whose wait is a back-off: it has run (``attempts``) and no gate parked it
#: (a snooze or a resource's token set ``blocked_on``; a delayed submission has run 0 times).
RETRYING = Q(status=Status.SCHEDULED, attempts__gt=0) & (Q(blocked_on__isnull=True) | Q(blocked_on=""))


# --------------------------------------------------------------------------- pages and counts


def bounded_count(qs: QuerySet[Any], cap: int) -> tuple[int, bool]:
    """At most ``cap`` (a LIMITed subquery, never a scan); ``True`` when there are more."""
    n = qs.order_by()[: cap + 1].count()
    return min(n, cap), n > cap


def keyset(qs: QuerySet[Any], *, size: int, after: int | None = None,
           descending: bool = True) -> tuple[list[Any], bool]:
    """Up to ``size`` rows past id ``after`` in id order, and whether more follow (no COUNT)."""
    if after is not None:
        qs = qs.filter(pk__lt=after) if descending else qs.filter(pk__gt=after)
    rows = list(qs.order_by("-id" if descending else "id")[: size + 1])
    return rows[:size], len(rows) > size


@dataclass
class Page:
    """Newest first, with the ids that continue it: older (``after``) and newer (``before``)."""

    rows: list[Task]
    next_after: int | None
    prev_before: int | None
    size: int


def page(qs: TaskQuerySet, *, size: int, after: int | None = None, before: int | None = None) -> Page:
    """The page of ``size`` rows older than id ``after`` or newer than id ``before``."""
    if before is not None and after is None:
        rows, more_newer = keyset(qs, size=size, after=before, descending=False)
        rows = rows[::-1]
        if more_newer or len(rows) == size:
            return Page(rows, rows[-1].pk if rows else None, rows[0].pk if more_newer and rows else None, size)
        # Fewer than a page above: that is the first page.
    elif after is not None:
        rows, more_older = keyset(qs, size=size, after=after)
        return Page(rows, rows[-1].pk if more_older and rows else None, rows[0].pk if rows else None, size)
    rows, more_older = keyset(qs, size=size)
    return Page(rows, rows[-1].pk if more_older and rows else None, None, size)


# --------------------------------------------------------------------------- actions


def actionable(qs: TaskQuerySet, action: Action | str) -> TaskQuerySet:
    """The tasks of ``qs`` that ``action`` would change (what a confirmation counts)."""
    qs = qs.filter(status__in=ACTIONS[Action(action)])
    if action == Action.CANCEL:
        # A running task already asked to stop has nothing left to cancel.
        qs = qs.exclude(status=Status.RUNNING, cancel_requested=True)
    return qs


def task_actions(task: Task) -> dict[str, bool]:
    """The operator actions that would change ``task`` (the console's buttons)."""
    actions = actions_for(task.status)
    if task.status == Status.RUNNING and task.cancel_requested:
        actions[Action.CANCEL.value] = False
    return actions
