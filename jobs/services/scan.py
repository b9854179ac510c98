"""Bounded list reads: what an API task list examines when no index serves its filters in its order.

An index serves a list when it reads the matching rows already in the page's order, so the
LIMIT stops the read: the tenant's rows by id (``task_tenant_id_idx``, or the primary key for
every tenant), by creation (``task_tenant_created_idx``) and one status by id
(``task_tenant_status_idx``). Any other filter (type, queue, priority, ``q``, dates, ``why``,
several statuses) or sort (priority, status) would read every row of the tenant to find a
page, so it is checked on a *window* instead: the scope's ``SCAN_ROWS`` newest rows (oldest,
ascending), found by an index-only probe of (tenant, id). The window's rows are fetched as
(id, sort key) without ORDER BY, so the planner has no ordered index to prefer over the
window's range, and sorted here; then only the page's rows are read in full.
"""

from typing import Any

from django.db.models import QuerySet

from .listing import MAX_OFFSET_ROWS

#: Rows of its scope one list request examines when no index serves it: the deepest page
#: number reaches this far (``MAX_OFFSET_ROWS``), so every page-number page fits in one window.
SCAN_ROWS = MAX_OFFSET_ROWS


def served(active: set[str], order: str, *, one_tenant: bool) -> bool:
    """Whether an index reads this list in ``order`` and the LIMIT stops it: only a tenant's
    unfiltered rows by creation (``task_tenant_created_idx``). In id order the planner may walk
    the primary key instead, reading every newer row of other tenants first, so id order and
    every filter go through the window."""
    return not active and order == "created_at" and one_tenant


def window(base: QuerySet[Any], *, after: int | None = None, descending: bool = True) -> tuple[list[int], bool]:
    """The ids of the next ``SCAN_ROWS`` rows of ``base`` past ``after``, and whether more follow: an
    index-only read of (tenant, id) (the primary key for every tenant), in order, stopped by its LIMIT."""
    if after is not None:
        base = base.filter(pk__lt=after) if descending else base.filter(pk__gt=after)
    ids = list(base.order_by("-id" if descending else "id").values_list("id", flat=True)[: SCAN_ROWS + 1])
    return ids[:SCAN_ROWS], len(ids) > SCAN_ROWS


def _fetch(base: QuerySet[Any], ids: list[int]) -> list[Any]:
    """The rows of ``ids``, in that order: primary-key lookups (the filters matched already)."""
    rows = {row.pk: row for row in base.filter(pk__in=ids).order_by()}
    return [rows[i] for i in ids if i in rows]


def page(base: QuerySet[Any], qs: QuerySet[Any], *, sort: str, descending: bool, offset: int,
         size: int) -> tuple[list[Any], int, bool]:
    """A page of ``qs`` sorted by ``sort`` (then id) among the window's rows: the rows, how many
    of the window's rows match, and whether the scope has rows past the window (not examined)."""
    ids, cut = window(base, descending=descending)
    keys = list(qs.filter(pk__in=ids).order_by().values_list("id", sort)) if ids else []
    keys.sort(key=lambda pair: (pair[1], pair[0]), reverse=descending)
    return _fetch(base, [pk for pk, _ in keys[offset: offset + size]]), len(keys), cut


def keyset(base: QuerySet[Any], qs: QuerySet[Any], *, size: int, after: int | None = None,
           descending: bool = True) -> tuple[list[Any], int | None]:
    """Up to ``size`` rows of ``qs`` past id ``after`` in id order, among the next ``SCAN_ROWS`` rows
    of ``base``; and the id to continue after (``None``: nothing follows). A sparse filter may give
    fewer rows than ``size``, even none, and still a next id: the window ended first."""
    ids, beyond = window(base, after=after, descending=descending)
    matched = sorted(qs.filter(pk__in=ids).order_by().values_list("id", flat=True), reverse=descending) if ids else []
    rows = _fetch(base, matched[:size])
    if len(matched) > size:
        return rows, matched[size - 1]
    return rows, ids[-1] if beyond else None
