"""Rate limits as a client meets them: limited callers, batches of no-ops, and the 429 answer."""

from typing import Any

from tests.support.api import Caller, MakeApi, assert_problem


def limited(make_api: MakeApi, limit: int | None, window: int | None = 60, slug: str = "limited") -> Caller:
    return make_api(slug, rate_limit=limit, rate_window=window)


def noops(n: int) -> list[dict[str, Any]]:
    return [{"type": "noop"}] * n


def remaining(response: Any) -> int:
    return int(response["RateLimit-Remaining"])


def assert_429(response: Any, limit: int, left: int = 0) -> dict[str, Any]:
    """A 429 of a full window: ``left`` is what it still had (less than the request's cost), charged nothing."""
    body = assert_problem(response, 429)
    assert body["type"].endswith("/rate-limited")
    retry = int(response["Retry-After"])
    assert retry >= 1
    assert body["retry_after"] == retry
    assert response["RateLimit-Limit"] == str(limit)
    assert response["RateLimit-Remaining"] == str(left)
    # Something is charged (or it would have fitted): the window is free again no sooner than the wait.
    assert int(response["RateLimit-Reset"]) >= retry
    return body


def assert_never_fits(response: Any, limit: int, cost: int, window: int = 60) -> dict[str, Any]:
    """A 413 of a request costing more than the whole window: no Retry-After, the limit and the cost named."""
    body = assert_problem(response, 413)
    assert body["type"].endswith("/over-rate-limit")
    assert "Retry-After" not in response
    assert (body["limit"], body["window"], body["cost"]) == (limit, window, cost)
    assert f"costs {cost}" in body["detail"] and f"{limit} tasks per {window} s" in body["detail"]
    return body
