"""The lists' paging parameters (documented once for the schema and for ``jobs.api.params``) and their opaque
keyset cursors."""

import base64
import binascii
import json

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from ...services import listing, why

SORT_FIELDS = {"created_at": "created_at", "priority": "priority", "status": "status", "id": "id"}
LIST_PARAMS = [
    OpenApiParameter("page", int, description=f"1-based page number (page-number mode); page × page_size at most "
                                              f"{listing.MAX_OFFSET_ROWS}: use cursor pages beyond."),
    OpenApiParameter("page_size", int, description="1 … 100 (default 20)."),
    OpenApiParameter("sort_by", str, enum=list(SORT_FIELDS), description="Default created_at."),
    OpenApiParameter("order", str, enum=["asc", "desc"], description="Default desc."),
    OpenApiParameter("cursor", str, description="Keyset pages by id, no COUNT: send it empty for the first page. "
                                                "Each examines at most 10,000 tasks, so a filtered page may be short, "
                                                "even empty, with a next_cursor: follow it until it is null."),
    OpenApiParameter("all", bool, description="Every tenant (operator keys only)."),
]
#: What the task list accepts beside its filters (``jobs.api.params``): the parameters above.
TASK_PAGING = tuple(p.name for p in LIST_PARAMS)
#: The audit log's: keyset pages only.
AUDIT_PAGING = ("page_size", "cursor")
FILTER_PARAMS = [
    OpenApiParameter("status", str, description="One or more statuses, comma-separated."),
    OpenApiParameter("type", str),
    OpenApiParameter("priority", int, description="1 … 5"),
    OpenApiParameter("queue", str),
    OpenApiParameter("created_after", OpenApiTypes.DATETIME),
    OpenApiParameter("created_before", OpenApiTypes.DATETIME),
    OpenApiParameter("finished_after", OpenApiTypes.DATETIME),
    OpenApiParameter("finished_before", OpenApiTypes.DATETIME),
    OpenApiParameter("q", str, description="A task id, a type prefix or an idempotency key."),
    OpenApiParameter("tenant", str, description="Operators with all=true: one tenant's slug."),
    OpenApiParameter("why", str, enum=list(why.CODES),
                     description="Tasks for which GET /api/tasks/{id}/why would answer this code."),
    OpenApiParameter("worker", str, description="The last worker holding the task: a name or its prefix (a host)."),
    OpenApiParameter("error", str, description="Text in any recorded error (type, message or traceback)."),
    OpenApiParameter("retrying", str, enum=["yes", "no"],
                     description="yes: scheduled tasks waiting out a retry's back-off; no: every other task."),
]


def choice(request: Request, name: str, choices: list[str], default: str) -> str:
    value = request.query_params.get(name) or default
    if value not in choices:
        raise ValidationError({name: f"must be one of {', '.join(choices)}"})
    return value


def encode_cursor(last_id: int, order: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"id": last_id, "o": order}).encode()).decode().rstrip("=")


def decode_cursor(raw: str) -> tuple[int, str] | None:
    if not raw:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        data = None
    if not isinstance(data, dict) or type(data.get("id")) is not int or data.get("o") not in ("asc", "desc"):
        raise ValidationError({"cursor": "not a cursor this API issued"})
    last_id, order = data["id"], data["o"]
    if not 0 <= last_id <= listing.MAX_ID:
        raise ValidationError({"cursor": "not a cursor this API issued"})
    return last_id, order
