"""``GET /api/tasks``: pages, keyset pages, batch status (``ids=``) and lean rows (``expand=``).

``TaskListCreateView.get`` (``jobs.api.views.tasks``) is ``list_tasks``. Rows leave out
``payload`` and ``result`` unless ``expand=`` asks for them (a page of 100 results can weigh
megabytes nobody asked for); ``GET /api/tasks/{id}`` always has them.
"""

import math
from typing import Any

from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from ...services import listing, scan
from .. import representation, scope, wait
from ..conf import api_conf
from ..reads import charge
from ..serializers import TaskListSerializer, TaskSerializer
from .paging import SORT_FIELDS, choice, decode_cursor, encode_cursor

#: Ids one ``ids=`` request may ask for.
MAX_IDS = 100
#: Paging parameters that mean nothing for ``ids=`` (every match comes, in the ids' order).
NOT_WITH_IDS = ("page", "page_size", "cursor", "sort_by", "order")

WAIT_PARAM = OpenApiParameter(
    "wait", float, description=f"Hold the request until the task has finished (completed, failed or cancelled) or "
                               f"this many seconds have passed (more than 0, at most {wait.MAX_WAIT}); the task comes "
                               "either way, and `Task-Finished` says which.")
FINISHED_HEADER = OpenApiParameter(
    "Task-Finished", str, OpenApiParameter.HEADER, enum=["true", "false"],
    description="With `wait`: whether the task had finished when answered (false: the time was up).",
    response=[200])
IDS_PARAM = OpenApiParameter(
    "ids", str, description=f"Batch status: up to {MAX_IDS} task ids, comma-separated. Every one of them in the key's "
                            "scope that matches the other filters comes, in the order given (each once); `missing` "
                            "lists the others. Not with page, page_size, cursor, sort_by or order.")
EXPAND_PARAM = OpenApiParameter(
    "expand", str, description=f"Rows leave out {' and '.join(representation.LEAN)}: name those to include, "
                               "comma-separated (`expand=payload,result`).")


class TaskRowSerializer(TaskSerializer):
    """A task as a list row: ``payload`` and ``result`` only when ``expand=`` names them."""

    payload = serializers.JSONField(required=False, help_text="With expand=payload only.")
    result = serializers.JSONField(required=False, allow_null=True,
                                   help_text="With expand=result only.")


class TaskPageSerializer(TaskListSerializer):
    data = TaskRowSerializer(many=True)
    missing = serializers.ListField(child=serializers.IntegerField(), required=False,
                                    help_text="ids= mode only: the ids asked for that no task in scope matched.")


def expand_of(request: Request) -> frozenset[str]:
    """``expand=``: the lean fields to include (400 naming ``expand`` for anything else)."""
    names = [n.strip() for n in request.query_params.get("expand", "").split(",") if n.strip()]
    unknown = sorted(set(names) - set(representation.LEAN))
    if unknown:
        raise ValidationError({"expand": f"unknown field(s) {', '.join(unknown)}: may name "
                                         f"{', '.join(representation.LEAN)}"})
    return frozenset(names)


def ids_of(request: Request) -> list[int] | None:
    """``ids=``: the distinct ids in the order given (None: not asked); 400 naming ``ids``."""
    raw = request.query_params.get("ids")
    if raw is None:
        return None
    parts = [p.strip() for p in raw.split(",")]
    if not raw.strip() or any(not p for p in parts):
        raise ValidationError({"ids": "must be task ids separated by commas, with none empty"})
    ids = list(dict.fromkeys(listing.parse_int(p, "ids", low=1, high=listing.MAX_ID) or 0 for p in parts))
    if len(ids) > MAX_IDS:
        raise ValidationError({"ids": f"at most {MAX_IDS} ids per request (got {len(ids)})"})
    clash = [name for name in NOT_WITH_IDS if name in request.query_params]
    if clash:
        raise ValidationError(dict.fromkeys(clash, "not with ids= (every match comes, in the ids' order)"))
    return ids


def rows(tasks: Any, expand: frozenset[str]) -> list[dict[str, Any]]:
    return [representation.listed(t, expand) for t in tasks]


def list_tasks(view: Any, request: Request) -> Response:
    """The list: ``ids=`` batch status, keyset pages (``cursor``), or numbered pages."""
    expand = expand_of(request)
    base = view.get_queryset()
    qs = view.filter_queryset(base)
    ids = ids_of(request)
    if ids is not None:
        headers = charge(request, api_conf().LIST_READ_COST)
        found = qs.in_bulk(ids)
        data = [found[i] for i in ids if i in found]
        return Response({"data": rows(data, expand), "total": len(data), "total_exact": True, "page": 1,
                         "page_size": len(ids), "total_pages": 1 if data else 0,
                         "missing": [i for i in ids if i not in found]}, headers=headers)
    page_size = scope.query_int(request, "page_size", 20, low=1, high=100)
    order = choice(request, "order", ["asc", "desc"], "desc")
    if "cursor" in request.query_params:
        if request.query_params.get("sort_by") not in (None, "", "id"):
            # Cursor pages walk the primary key: another order would be silently ignored.
            raise ValidationError({"sort_by": "cursor pages are in id order (order= sets the direction); "
                                              "sort_by needs page-number pages"})
        return _cursor_page(request, base, qs, request.query_params["cursor"], page_size, order, expand)
    sort_by = SORT_FIELDS[choice(request, "sort_by", list(SORT_FIELDS), "created_at")]
    page = scope.query_int(request, "page", 1, low=1, high=10_000_000)
    if page * page_size > listing.MAX_OFFSET_ROWS:
        # An OFFSET reads and throws away every row before the page: deep pages walk the keyset instead.
        raise ValidationError({"page": f"page × page_size may be at most {listing.MAX_OFFSET_ROWS}; "
                                       "use cursor pages (cursor=) to go deeper"})
    headers = charge(request, api_conf().LIST_READ_COST)
    descending = order == "desc"
    offset = (page - 1) * page_size
    if _served(request, sort_by):
        prefix = "-" if descending else ""
        qs = qs.order_by(f"{prefix}{sort_by}", f"{prefix}id")
        # Exact up to the cap, never a scan of millions: beyond it, use cursor pages.
        total, more = listing.bounded_count(qs, listing.COUNT_CAP)
        found_rows = list(qs[offset: offset + page_size])
    else:
        found_rows, total, more = scan.page(base, qs, sort=sort_by, descending=descending, offset=offset,
                                            size=page_size)
    return Response({
        "data": rows(found_rows, expand),
        "total": total,
        "total_exact": not more,
        "page": page,
        "page_size": page_size,
        "total_pages": math.ceil(total / page_size) if total else 0,
    }, headers=headers)


def _served(request: Request, order: str) -> bool:
    """Whether an index serves this request's filters in ``order`` (else it is windowed)."""
    params = request.query_params
    active = {name for name in listing.TaskFilter.base_filters if str(params.get(name, "")).strip()}
    return scan.served(active, order, one_tenant=scope.tenant_ids(request) is not None)


def _cursor_page(request: Request, base: Any, qs: Any, raw: str, page_size: int, order: str,
                 expand: frozenset[str]) -> Response:
    decoded = decode_cursor(raw)
    last_id, order = decoded if decoded is not None else (None, order)
    headers = charge(request, api_conf().LIST_READ_COST)
    descending = order == "desc"
    found, next_id = scan.keyset(base, qs, size=page_size, after=last_id, descending=descending)
    return Response({
        "data": rows(found, expand),
        "page_size": page_size,
        "next_cursor": None if next_id is None else encode_cursor(next_id, order),
    }, headers=headers)
