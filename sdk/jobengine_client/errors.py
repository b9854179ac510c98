"""Exceptions: an error answer of the API carries its problem document (RFC 9457) whole."""

from __future__ import annotations

from typing import Any

import httpx

from .models import FieldError


class JobEngineError(Exception):
    """The base of everything this package raises."""


class ApiError(JobEngineError):
    """The API answered with an error status; ``body`` is its problem document."""

    def __init__(self, status: int, body: dict[str, Any], headers: httpx.Headers | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers if headers is not None else httpx.Headers()
        self.type: str = str(body.get("type", "about:blank"))
        self.title: str = str(body.get("title", ""))
        self.detail: str = str(body.get("detail", ""))
        self.errors: list[FieldError] = list(body.get("errors") or [])
        super().__init__(self._describe())

    def _describe(self) -> str:
        text = f"{self.status} {self.title}: {self.detail}".rstrip(": ")
        if self.errors:
            text += " (" + "; ".join(f"{e.get('field')}: {e.get('message')}" for e in self.errors) + ")"
        return text


class BadRequest(ApiError):
    """400: the request is invalid; ``errors`` names every field."""


class AuthenticationFailed(ApiError):
    """401: no key, or an unknown or revoked one."""


class PermissionDenied(ApiError):
    """403: an inactive tenant, or an operator's power asked with a tenant key."""


class NotFound(ApiError):
    """404 (another tenant's task answers this too)."""


class Conflict(ApiError):
    """409: the task is not in a state the action applies to, or an idempotency key was reused."""

    @property
    def current_status(self) -> str | None:
        value = self.body.get("current_status")
        return None if value is None else str(value)


class PayloadTooLarge(ApiError):
    """413."""


class RateLimited(ApiError):
    """429: the rate limit or a backlog cap; raised once the client's own retries are spent."""

    @property
    def retry_after(self) -> float | None:
        from ._core import retry_after  # (the one reading of Retry-After)

        return retry_after(self.headers, self.body)


class Unavailable(ApiError):
    """503: the database or the limiter is unavailable; raised once the client's own retries are spent."""


BY_STATUS: dict[int, type[ApiError]] = {400: BadRequest, 401: AuthenticationFailed, 403: PermissionDenied,
                                        404: NotFound, 409: Conflict, 413: PayloadTooLarge, 429: RateLimited,
                                        503: Unavailable}


def error_for(response: httpx.Response) -> ApiError:
    """The exception for an error answer; a body that is not a problem document still gives one."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {"type": "about:blank", "title": response.reason_phrase, "status": response.status_code,
                "detail": response.text[:500]}
    return BY_STATUS.get(response.status_code, ApiError)(response.status_code, body, response.headers)


class WaitTimeout(JobEngineError):
    """``wait()`` ran out of time; ``task`` is the task as last read (not finished)."""

    def __init__(self, task: Any, timeout: float) -> None:
        self.task = task
        super().__init__(f"task {task.get('id')} is still {task.get('status')} after {timeout:g} s")


class StreamLost(JobEngineError):
    """The event stream could not be reconnected ``max_reconnects`` times in a row."""


class InvalidSignature(JobEngineError):
    """A webhook's ``Webhook-Signature`` does not verify: malformed, too old, or not signed with the secret."""
