"""RFC 9457 problem documents (``application/problem+json``): the error shape of the API and the streams.

``{"type", "title", "status", "detail", "errors": [{"field", "message"}]}`` — ``errors``
appears on validation failures, one entry per offending field (``tasks[3].priority``).
Plain data, so the streams (below the API) answer with the same shape as DRF's handler.
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


def problem(status_code: int, detail: str, *, kind: str = "", errors: list[dict[str, str]] | None = None,
            extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the problem document for ``status_code``; ``kind`` names its type (``about:blank`` without)."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + kind if kind else "about:blank",
        "title": TITLES.get(status_code, "Error"),
        "status": status_code,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return body
