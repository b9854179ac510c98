"""New task rows as one multi-row INSERT, written without the ORM's per-value compiler.

``bulk_create`` prepares every value of every row through its field and the SQL compiler (≈ 35
columns × 500 rows of generic calls: most of a batch's time). The values of a built task are
already what the column takes (``jobs.spec`` checked their types), so only the kinds of column
whose Python value differs from the driver's are converted here — date-times and JSON, the same
adapters the ORM calls — and each distinct date-time once (a batch's tasks share ``now``).
"""

from collections.abc import Callable, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any

from django.db import connection, models

from ..models import Task

#: Every column but the id, in the model's order.
FIELDS = [f for f in Task._meta.concrete_fields if not f.primary_key]
COLUMNS = [str(f.column) for f in FIELDS]


def _converter(field: "models.Field[Any, Any]") -> Callable[[Any], Any] | None:
    """How a value of ``field`` becomes a parameter (None: as it is — ints, strings, booleans, NULL;
    date-times are converted once per distinct value, in ``insert``)."""
    if isinstance(field, models.JSONField):
        empties: dict[type, Any] = {}

        def convert(value: Any) -> Any:
            if value is None:
                return None  # SQL NULL, as ``JSONField.get_db_prep_save`` has it
            if value:
                # What ``get_db_prep_save`` comes to for a plain value, without its layers of calls.
                return connection.ops.adapt_json_value(value, field.encoder)
            # ``{}`` / ``[]``: most payloads and every new error history, encoded once.
            if (encoded := empties.get(type(value))) is None:
                encoded = empties[type(value)] = connection.ops.adapt_json_value(value, field.encoder)
            return encoded

        return convert
    return None


#: A row's values in column order, read from an instance's ``__dict__`` in one call.
ROW = itemgetter(*(f.attname for f in FIELDS))
#: The columns whose values the driver does not take as they are: date-times, and JSON (by converter).
TIME_COLUMNS = [n for n, f in enumerate(FIELDS) if isinstance(f, models.DateTimeField)]
JSON_COLUMNS = [(n, convert) for n, f in enumerate(FIELDS) if (convert := _converter(f)) is not None]


def insert(tasks: list[Task]) -> None:
    """INSERT ``tasks`` (in the caller's transaction) and set their ids, as ``bulk_create`` does."""
    if not tasks:
        return
    if not connection.features.can_return_rows_from_bulk_insert:
        Task.objects.bulk_create(tasks)  # no RETURNING: the ORM's way of learning the ids
        return
    ops = connection.ops
    table = ops.quote_name(Task._meta.db_table)
    names = ", ".join(ops.quote_name(column) for column in COLUMNS)
    returning, returning_params = ops.returning_columns([Task._meta.pk])
    times: dict[datetime, Any] = {}
    per_statement = max(1, ops.bulk_batch_size(FIELDS, tasks))
    with connection.cursor() as cursor:
        literal = _literal_of(cursor)
        for start in range(0, len(tasks), per_statement):
            chunk = tasks[start:start + per_statement]
            columns = _columns(chunk, times)
            if literal is not None and not returning_params:
                values_sql = _literal_rows(columns, literal)
                query_params: tuple[Any, ...] | None = None
            else:
                row_sql = "(" + ", ".join(["%s"] * len(FIELDS)) + ")"
                values_sql = ", ".join([row_sql] * len(chunk))
                query_params = (*(value for row in zip(*columns, strict=True) for value in row), *returning_params)
            sql = f"INSERT INTO {table} ({names}) VALUES {values_sql} {returning}"  # noqa: S608 — escaped literals
            cursor.execute(sql, query_params)
            ids = ops.fetch_returned_rows(cursor, returning_params)
            for task, (pk,) in zip(chunk, ids, strict=True):
                task.pk = pk
                task._state.adding = False
                task._state.db = connection.alias


def _columns(chunk: list[Task], times: dict[datetime, Any]) -> list[Sequence[Any]]:
    """The values of ``chunk``'s rows column by column, as the driver takes them."""
    columns: list[Sequence[Any]] = list(zip(*(ROW(task.__dict__) for task in chunk), strict=True))
    adapt = connection.ops.adapt_datetimefield_value
    for n in TIME_COLUMNS:
        for value in set(columns[n]) - times.keys():
            times[value] = None if value is None else adapt(value)
        columns[n] = [times[value] for value in columns[n]]
    for n, convert in JSON_COLUMNS:
        columns[n] = [convert(value) for value in columns[n]]
    return columns


def _literal_of(cursor: Any) -> Callable[[Any], bytes] | None:
    """mysqlclient's escaping of one value (``Connection.literal``), where the driver has it.

    The driver escapes each parameter in Python (≈ 2 µs each, 35 a row); a batch's rows repeat most
    of their values (tenant, type, status, times, zeros), so escaping each distinct value once, with
    the driver's own function, halves the INSERT's time. Other drivers bind parameters natively.
    """
    raw = getattr(getattr(cursor, "cursor", None), "connection", None)
    literal = getattr(raw, "literal", None)
    return literal if callable(literal) else None


def _literal_rows(columns: list[Sequence[Any]], literal: Callable[[Any], bytes]) -> str:
    """``(…), (…)`` of the rows of ``columns``, each distinct value of a column escaped once (a
    column's values are of one type, bar NULL: no ``True``/``1`` clash)."""
    rendered = []
    for column in columns:
        escaped = {value: literal(value).decode() for value in set(column)}
        rendered.append([escaped[value] for value in column])
    return ", ".join("(" + ", ".join(row) + ")" for row in zip(*rendered, strict=True))
