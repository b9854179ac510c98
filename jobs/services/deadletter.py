"""The failed (dead-lettered) set grouped by task type and last error: a bounded scan of
the latest failures, and the selection of one group, counted or requeued by batch.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import F, Func, TextField

from tenants.models import Tenant

from ..models import Task
from ..shapes import error_text
from ..store.batches import BATCH
from . import control

#: Groups are built from this many of the most recently finished failed tasks.
SCAN_LIMIT = 5000
SAMPLE_IDS = 5


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
    count: int = 0
    tenants: set[str] = field(default_factory=set)
    latest: datetime | None = None
    sample_ids: list[int] = field(default_factory=list)

    @property
    def tenant_list(self) -> list[str]:
        return sorted(self.tenants)

    @property
    def error(self) -> str:
        return error_text({"type": self.error_type, "message": self.error_message}) or "(no error recorded)"


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)


def groups(limit: int | None = None) -> tuple[list[Group], int]:
    """Group the latest ``limit`` failed tasks; returns the groups (largest first) and the rows scanned."""
    limit = SCAN_LIMIT if limit is None else limit
    rows = list(
        with_last_error(Task.objects.failed()).order_by("-finished_at", "-id")
        .values_list("id", "type", "tenant_id", "finished_at", "last_error_type", "last_error_message")[:limit]
    )
    slugs = dict(Tenant.objects.filter(pk__in={r[2] for r in rows}).values_list("pk", "slug")) if rows else {}
    found: dict[tuple[str, str, str], Group] = {}
    for pk, task_type, tenant_id, finished_at, err_type, err_msg in rows:
        key = (task_type, _text(err_type), _text(err_msg))
        group = found.get(key)
        if group is None:
            group = found[key] = Group(*key)
        group.count += 1
        group.tenants.add(slugs.get(tenant_id, str(tenant_id)))
        if finished_at is not None and (group.latest is None or finished_at > group.latest):
            group.latest = finished_at
        if len(group.sample_ids) < SAMPLE_IDS:
            group.sample_ids.append(pk)
    ordered = sorted(found.values(), key=lambda g: (-g.count, g.type, g.error))
    return ordered, len(rows)


def group_batches(task_type: str, error_type: str, error_message: str, *,
                  upto: int | None = None, tenant_id: int | None = None) -> Iterator[list[int]]:
    """Ids of every failed task of ``task_type`` whose last error is ``error_type: error_message``, by batch
    (with ``upto``: only ids up to it, what a confirmation counted)."""
    last = 0
    qs = with_last_error(Task.objects.failed().filter(type=task_type))
    if upto is not None:
        qs = qs.filter(pk__lte=upto)
    if tenant_id is not None:
        qs = qs.filter(tenant_id=tenant_id)
    while rows := list(qs.filter(pk__gt=last).order_by("pk")
                       .values_list("pk", "last_error_type", "last_error_message")[:BATCH]):
        last = rows[-1][0]
        ids = [pk for pk, t, m in rows if _text(t) == error_type and _text(m) == error_message]
        if ids:
            yield ids


def count_group(task_type: str, error_type: str, error_message: str, cap: int) -> tuple[int, bool]:
    """How many tasks the group holds, counting at most ``cap``; ``True`` when there are more."""
    total = 0
    for ids in group_batches(task_type, error_type, error_message):
        total += len(ids)
        if total > cap:
            return cap, True
    return total, False


def requeue_group(task_type: str, error_type: str, error_message: str) -> control.Requeued:
    """Requeue the group's tasks (guarded: only those still failed), batch by batch, each charged
    to its tenants' rate limits (``control.requeue_batches``)."""
    return control.requeue_batches(group_batches(task_type, error_type, error_message))
