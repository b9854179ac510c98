"""Walk a large set of rows a bounded batch at a time (short transactions, bounded memory)."""

from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet

BATCH = 1000


def id_batches(qs: "QuerySet[Any]", batch: int = BATCH) -> Iterator[list[int]]:
    """The primary keys of ``qs`` in ascending order, ``batch`` at a time (keyset, not OFFSET)."""
    last = 0
    while ids := list(qs.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:batch]):
        yield ids
        last = ids[-1]
