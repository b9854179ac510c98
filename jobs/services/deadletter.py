"""The failed (dead-lettered) set grouped by tenant, task type and last error: a bounded scan of
the latest failures, and what a dead-letter action selects (one group or every failed task, of
one tenant or all), walked by batch and bounded by the cut-off its confirmation counted.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import F, Func, Max, Q, TextField

from tenants.models import Tenant

from ..models import Task
from ..shapes import error_text
from ..store.batches import BATCH
from .listing import bounded_count

#: Groups are built from this many of the most recently finished failed tasks.
SCAN_LIMIT = 5000
SAMPLE_IDS = 5
#: A confirmation lists this many of the ids it counted.
PREVIEW_IDS = 20


class LastErrorField(Func):
    """``errors[-1].<key>`` as text, on SQLite, MySQL/MariaDB and PostgreSQL."""

    output_field = TextField()
    KEYS = ("type", "message")

    def __init__(self, key: str) -> None:
        if key not in self.KEYS:
            raise ValueError(f"unknown error field {key!r}")
        super().__init__(F("errors"))
        self.key = key

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        sql, params = compiler.compile(self.source_expressions[0])
        if connection.vendor == "mysql":
            # An explicit index per row: MariaDB resolves a constant '$[last]' once per statement,
            # so every row after the first would read the wrong element.
            return (f"CASE WHEN JSON_LENGTH({sql}) > 0 THEN JSON_UNQUOTE(JSON_EXTRACT({sql}, "
                    f"CONCAT('$[', JSON_LENGTH({sql}) - 1, '].{self.key}'))) END", [*params, *params, *params])
        if connection.vendor == "postgresql":
            return f"(({sql})::jsonb -> -1 ->> '{self.key}')", list(params)
        return f"json_extract({sql}, '$[#-1].{self.key}')", list(params)


def with_last_error(qs: Any) -> Any:
    """Annotate ``last_error_type`` and ``last_error_message`` (the latest attempt's error)."""
    return qs.annotate(last_error_type=LastErrorField("type"), last_error_message=LastErrorField("message"))


@dataclass
class Group:
    type: str
    error_type: str
    error_message: str
    tenant: str = ""
    count: int = 0
    latest: datetime | None = None
    sample_ids: list[int] = field(default_factory=list)

    @property
    def error(self) -> str:
        return error_text({"type": self.error_type, "message": self.error_message}) or "(no error recorded)"


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)


def groups(limit: int | None = None, *, tenant: Tenant | None = None) -> tuple[list[Group], int]:
    """Group the latest ``limit`` failed tasks (of ``tenant``, or all) by tenant, type and last error;
    returns the groups (largest first) and the rows scanned."""
    limit = SCAN_LIMIT if limit is None else limit
    qs = Task.objects.failed() if tenant is None else Task.objects.failed().filter(tenant=tenant)
    rows = list(
        with_last_error(qs).order_by("-finished_at", "-id")
        .values_list("id", "type", "tenant_id", "finished_at", "last_error_type", "last_error_message")[:limit]
    )
    slugs = dict(Tenant.objects.filter(pk__in={r[2] for r in rows}).values_list("pk", "slug")) if rows else {}
    found: dict[tuple[str, str, str, str], Group] = {}
    for pk, task_type, tenant_id, finished_at, err_type, err_msg in rows:
        key = (task_type, _text(err_type), _text(err_msg), slugs.get(tenant_id, str(tenant_id)))
        group = found.get(key)
        if group is None:
            group = found[key] = Group(*key)
        group.count += 1
        if finished_at is not None and (group.latest is None or finished_at > group.latest):
            group.latest = finished_at
        if len(group.sample_ids) < SAMPLE_IDS:
            group.sample_ids.append(pk)
    ordered = sorted(found.values(), key=lambda g: (-g.count, g.type, g.error, g.tenant))
    return ordered, len(rows)


@dataclass(frozen=True, slots=True)
class Selection:
    """What a dead-letter action selects: one group (type, error type, error message) or, with no
    ``group``, every failed task; of ``tenant`` only, or of every tenant."""

    group: tuple[str, str, str] | None = None
    tenant: Tenant | None = None

    @property
    def tenant_id(self) -> int | None:
        return self.tenant.pk if self.tenant is not None else None

    @property
    def error(self) -> str:
        return Group(*self.group).error if self.group else ""


@dataclass(frozen=True, slots=True)
class Cutoff:
    """What a confirmation counted: ids up to ``upto`` that had failed by ``finished`` (the latest
    finish among them). A task failing later, even an old one running out of retries, is outside."""

    upto: int
    finished: datetime | None = None

    def fence(self) -> Q:
        inside = Q(pk__lte=self.upto)
        if self.finished is not None:
            inside &= Q(finished_at__lte=self.finished)
        return inside


def _failed(tenant_id: int | None, cutoff: Cutoff | None) -> Any:
    qs = Task.objects.failed()
    if tenant_id is not None:
        qs = qs.filter(tenant_id=tenant_id)
    return qs if cutoff is None else qs.filter(cutoff.fence())


def _rows(group: tuple[str, str, str] | None, tenant_id: int | None,
          cutoff: Cutoff | None) -> Iterator[list[tuple[int, datetime | None]]]:
    qs = _failed(tenant_id, cutoff)
    if group is not None:
        qs = with_last_error(qs.filter(type=group[0]))
    fields = ("pk", "finished_at", *(("last_error_type", "last_error_message") if group else ()))
    last = 0
    while batch := list(qs.filter(pk__gt=last).order_by("pk").values_list(*fields)[:BATCH]):
        last = batch[-1][0]
        if group is None:
            yield [(r[0], r[1]) for r in batch]
        elif chosen := [(r[0], r[1]) for r in batch if (_text(r[2]), _text(r[3])) == group[1:]]:
            yield chosen


def rows(selection: Selection, cutoff: Cutoff | None = None) -> Iterator[list[tuple[int, datetime | None]]]:
    """``(id, finished_at)`` of the selected failed tasks (inside ``cutoff``, if given), ascending, by batch."""
    return _rows(selection.group, selection.tenant_id, cutoff)


def group_batches(task_type: str, error_type: str, error_message: str, *, upto: int | None = None,
                  tenant_id: int | None = None, finished: datetime | None = None) -> Iterator[list[int]]:
    """Ids of every failed task of ``task_type`` whose last error is ``error_type: error_message``, by batch
    (with ``upto``: only ids up to it and, with ``finished``, failed by then: what a confirmation counted)."""
    cutoff = None if upto is None else Cutoff(upto, finished)
    for batch in _rows((task_type, error_type, error_message), tenant_id, cutoff):
        yield [pk for pk, _ in batch]


@dataclass(frozen=True, slots=True)
class Counted:
    """A confirmation's count (at most ``cap``; ``more``: there are more), its cut-off and the first ids."""

    count: int
    more: bool
    cutoff: Cutoff
    preview: list[int]


def count(selection: Selection, cap: int) -> Counted:
    """Count the selection now, for a confirmation: the cut-off is its newest id and latest finish."""
    if selection.group is None:
        # Every failed task: aggregates, not a walk over the whole set.
        qs = _failed(selection.tenant_id, None)
        top = qs.aggregate(upto=Max("pk"), finished=Max("finished_at"))
        total, more = bounded_count(qs, cap)
        preview = list(qs.order_by("pk").values_list("pk", flat=True)[:PREVIEW_IDS])
        return Counted(total, more, Cutoff(top["upto"] or 0, top["finished"]), preview)
    total, upto, finished, preview = 0, 0, None, []
    for batch in rows(selection):
        total += len(batch)
        upto = batch[-1][0]
        latest = max((f for _, f in batch if f is not None), default=None)
        if latest is not None and (finished is None or latest > finished):
            finished = latest
        preview.extend(pk for pk, _ in batch[:PREVIEW_IDS - len(preview)])
    return Counted(min(total, cap), total > cap, Cutoff(upto, finished), preview)


def size(selection: Selection, cutoff: Cutoff | None = None) -> int:
    """How many tasks the selection holds now (inside ``cutoff``, if given)."""
    if selection.group is None:
        return int(_failed(selection.tenant_id, cutoff).count())
    return sum(len(batch) for batch in rows(selection, cutoff))
