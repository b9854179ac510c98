"""What the sync and async clients share, written once and free of I/O: a request as data (``Call``), the
retry decision (``RetryPolicy``), the reading of ``Retry-After``, and the clients' common settings.

Each client only sends a ``Call``, sleeps as the policy says, and resends the *same* ``Call``: whatever a
``Call`` carries (an idempotency key above all) is identical on every attempt.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from .errors import error_for

__version__ = "0.1.0"

#: Answers that say "not done, try again later": the server did not act on the request.
RETRY_STATUSES = frozenset({429, 503})

#: Transport errors raised before the request was sent: resending is safe for any request.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class Call[T]:
    """One API request and how to read its successful answer."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: Mapping[str, str] = field(default_factory=dict)
    json: Any = None
    #: Read timeout for this request (a long poll holds the answer back), else the client's.
    timeout: float | None = None
    #: Safe to resend after the server may have received it (a GET, or a POST with an idempotency key).
    replayable: bool = True

    def send_args(self, default_timeout: httpx.Timeout) -> dict[str, Any]:
        timeout = default_timeout if self.timeout is None else with_read(default_timeout, self.timeout)
        args: dict[str, Any] = {"params": dict(self.params), "timeout": timeout}
        if self.json is not None:
            args["json"] = self.json
        return args


@dataclass(frozen=True)
class RetryPolicy:
    """When to resend: after a 429 or 503 (waiting its ``Retry-After``), and after a connection error.

    At most ``max_retries`` resends; exponential back-off with full jitter (``backoff`` × 2ⁿ, at most
    ``max_backoff``) where the server names no wait; a ``Retry-After`` longer than ``max_retry_after`` is
    not waited for: the error is raised at once, so a call never blocks for longer than its caller expects.
    """

    max_retries: int = 3
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 30.0

    def backoff_delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.max_backoff, self.backoff * 2 ** attempt))  # noqa: S311 (not crypto)

    def after_response(self, attempt: int, response: httpx.Response) -> float | None:
        """Seconds to wait before resending after this answer; None: do not resend."""
        if response.status_code not in RETRY_STATUSES or attempt >= self.max_retries:
            return None
        after = retry_after(response.headers, None)
        if after is None:
            return self.backoff_delay(attempt)
        return after if after <= self.max_retry_after else None

    def after_error(self, attempt: int, exc: Exception, replayable: bool) -> float | None:
        """Seconds to wait before resending after a transport error; None: raise it."""
        if attempt >= self.max_retries or not isinstance(exc, httpx.TransportError):
            return None
        if isinstance(exc, NOT_SENT) or replayable:
            return self.backoff_delay(attempt)
        return None


def with_read(timeout: httpx.Timeout, read: float) -> httpx.Timeout:
    """``timeout`` with another read timeout (a long poll, a stream between heartbeats)."""
    return httpx.Timeout(connect=timeout.connect, read=read, write=timeout.write, pool=timeout.pool)


def retry_after(headers: httpx.Headers, body: Mapping[str, Any] | None) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), else the problem's ``retry_after``."""
    raw = headers.get("retry-after")
    if raw is not None:
        raw = raw.strip()
        if raw.isdigit():
            return float(raw)
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            return max(0.0, when.timestamp() - time.time())
    if body is not None and isinstance(body.get("retry_after"), int | float):
        return float(body["retry_after"])
    return None


def read(response: httpx.Response) -> Any:
    """The JSON of a successful answer; an error answer raises its ``ApiError``."""
    if response.is_error:
        raise error_for(response)
    return response.json()


def http_settings(base_url: str, api_key: str, timeout: float) -> dict[str, Any]:
    """The keyword arguments of the ``httpx.Client`` / ``httpx.AsyncClient`` the clients open."""
    return {
        "base_url": base_url.rstrip("/"),
        "headers": {"X-API-Key": api_key, "Accept": "application/json",
                    "User-Agent": f"jobengine-client/{__version__}"},
        "timeout": httpx.Timeout(timeout),
    }


def query_value(value: Any) -> str:
    """A filter value as the API reads it: lists comma-separated, booleans ``true``/``false``, ISO times."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(query_value(v) for v in value)
    return str(value)


def query(filters: Mapping[str, Any]) -> dict[str, str]:
    """Query parameters from keyword filters; None means "not given"."""
    return {name: query_value(value) for name, value in filters.items() if value is not None}
