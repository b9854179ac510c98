"""Rate limits as a client meets them: limited callers, batches of no-ops, and the 429 answer."""

from typing import Any

from tests.support.api import Caller, MakeApi, assert_problem


def limited(make_api: MakeApi, limit: int | None, window: int | None = 60, slug: str = "limited") -> Caller:
    return make_api(slug, rate_limit=limit, rate_window=window)


def noops(n: int) -> list[dict[str, Any]]:
    return [{"type": "noop"}] * n


def remaining(response: Any) -> int:
    return int(response["RateLimit-Remaining"])


def assert_429(response: Any, limit: int) -> dict[str, Any]:
    body = assert_problem(response, 429)
    assert body["type"].endswith("/rate-limited")
    retry = int(response["Retry-After"])
    assert retry >= 1
    assert body["retry_after"] == retry
    assert response["RateLimit-Limit"] == str(limit)
    assert response["RateLimit-Remaining"] == "0"
    assert int(response["RateLimit-Reset"]) >= 0
    return body
