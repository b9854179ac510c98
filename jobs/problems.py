"""RFC 9457 problem documents (``application/problem+json``): the error shape of the API and the streams.

``{"type", "title", "status", "detail", "errors": [{"field", "message"}]}`` — ``errors``
appears on every 400, one entry per offending field (``tasks[3].priority``, a query parameter,
``body`` for a body that is not JSON). Plain data, so the streams (below the API) answer with
the same shape as DRF's handler.

One scheme of ``type``: ``PROBLEM_TYPE`` + a slug of ``KINDS``, for every problem; a problem
raised without a slug takes its status's (``DEFAULT_KINDS``). A new kind of problem is added to
``KINDS`` (a test walks the code for every slug used and checks it is registered).
"""

from typing import Any

PROBLEM_TYPE = "https://job-engine.invalid/problems/"
CONTENT_TYPE = "application/problem+json"

TITLES = {
    400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
    405: "Method not allowed", 406: "Not acceptable", 409: "Conflict", 413: "Payload too large",
    415: "Unsupported media type", 429: "Too many requests", 500: "Internal server error",
    503: "Service unavailable",
}

#: Every problem type: its slug, its status and what it means (docs/API.md lists them).
KINDS: dict[str, tuple[int, str]] = {
    "validation": (400, "A body field or query parameter is invalid or unknown; errors names each."),
    "unauthorized": (401, "No API key, or one that is unknown or revoked."),
    "forbidden": (403, "The key may not do this (its tenant is inactive, or it lacks a permission)."),
    "operator-only": (403, "Only operator keys may do this."),
    "staff-only": (403, "The console's streams are for logged-in staff."),
    "not-found": (404, "No such resource, or not one the key may see."),
    "method-not-allowed": (405, "The endpoint does not take this method (see Allow)."),
    "not-acceptable": (406, "The Accept header names no type the API answers (application/json)."),
    "invalid-state": (409, "The resource is not in a state that allows this (current_status says which)."),
    "idempotency-mismatch": (409, "An idempotency key was reused with a different body."),
    "payload-too-large": (413, "A payload or the body is over its limit (limit names it)."),
    "over-rate-limit": (413, "The request costs more than the tenant's whole rate-limit window: no wait admits it "
                             "(limit, window and cost name it); send fewer tasks per request."),
    "unsupported-media-type": (415, "The body is not application/json."),
    "rate-limited": (429, "Over the rate limit; retry after retry_after seconds."),
    "admission": (429, "The tenant's backlog is over a cap (cap names it)."),
    "too-many-streams": (429, "Too many event streams open at once."),
    "internal-error": (500, "An unexpected error; it has been logged."),
    "unavailable": (503, "A dependency (database, rate limiter) is unavailable; retry shortly."),
}

#: The slug of a problem raised with a status and no slug of its own.
DEFAULT_KINDS = {
    400: "validation", 401: "unauthorized", 403: "forbidden", 404: "not-found", 405: "method-not-allowed",
    406: "not-acceptable", 409: "invalid-state", 413: "payload-too-large", 415: "unsupported-media-type",
    429: "rate-limited", 500: "internal-error", 503: "unavailable",
}


def type_uri(kind: str) -> str:
    """The ``type`` of a problem of ``kind``."""
    return PROBLEM_TYPE + kind


def problem(status_code: int, detail: str, *, kind: str = "", errors: list[dict[str, str]] | None = None,
            extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the problem document for ``status_code``; ``kind`` names its type (else the status's)."""
    kind = kind or DEFAULT_KINDS.get(status_code, "")
    body: dict[str, Any] = {
        "type": type_uri(kind) if kind else "about:blank",
        "title": TITLES.get(status_code, "Error"),
        "status": status_code,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return body
