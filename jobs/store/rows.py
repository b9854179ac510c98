"""New task rows as one multi-row INSERT, written without the ORM's per-value compiler.

``bulk_create`` prepares every value of every row through its field and the SQL compiler (≈ 35
columns × 500 rows of generic calls: most of a batch's time). The values of a built task are
already what the column takes (``jobs.spec`` checked their types), so only the kinds of column
whose Python value differs from the driver's are converted here — date-times and JSON, the same
adapters the ORM calls — and each distinct date-time once (a batch's tasks share ``now``).
"""

from collections.abc import Callable
from datetime import datetime
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
        return lambda value: field.get_db_prep_save(value, connection)
    return None


#: (attribute, converter, is a date-time) per column.
CONVERTERS = [(f.attname, _converter(f), isinstance(f, models.DateTimeField)) for f in FIELDS]


def insert(tasks: list[Task]) -> None:
    """INSERT ``tasks`` (in the caller's transaction) and set their ids, as ``bulk_create`` does."""
    if not tasks:
        return
    if not connection.features.can_return_rows_from_bulk_insert:
        Task.objects.bulk_create(tasks)  # no RETURNING: the ORM's way of learning the ids
        return
    ops = connection.ops
    table = ops.quote_name(Task._meta.db_table)
    columns = ", ".join(ops.quote_name(column) for column in COLUMNS)
    returning, returning_params = ops.returning_columns([Task._meta.pk])
    row_sql = "(" + ", ".join(["%s"] * len(FIELDS)) + ")"
    times: dict[datetime, Any] = {}
    per_statement = max(1, ops.bulk_batch_size(FIELDS, tasks))
    with connection.cursor() as cursor:
        for start in range(0, len(tasks), per_statement):
            chunk = tasks[start:start + per_statement]
            params: list[Any] = []
            for task in chunk:
                values = task.__dict__
                for attname, convert, is_time in CONVERTERS:
                    value = values[attname]
                    if is_time and value is not None:
                        if (adapted := times.get(value)) is None:
                            adapted = times[value] = ops.adapt_datetimefield_value(value)
                        value = adapted
                    elif convert is not None:
                        value = convert(value)
                    params.append(value)
            values_sql = ", ".join([row_sql] * len(chunk))
            sql = f"INSERT INTO {table} ({columns}) VALUES {values_sql} {returning}"  # noqa: S608 — names and placeholders only
            cursor.execute(sql, (*params, *returning_params))
            ids = ops.fetch_returned_rows(cursor, returning_params)
            for task, (pk,) in zip(chunk, ids, strict=True):
                task.pk = pk
                task._state.adding = False
                task._state.db = connection.alias
