"""``RetryPolicy`` and ``Retry-After`` without a server (the live resends are in test_client.py)."""

import email.utils
import time

import httpx
import pytest
from jobengine_client import RateLimited, RetryPolicy
from jobengine_client._core import retry_after
from jobengine_client.errors import error_for

POLICY = RetryPolicy(max_retries=2, backoff=0.5, max_backoff=4, max_retry_after=30)


def answer(status: int, retry: str | None = None, body: dict | None = None) -> httpx.Response:
    headers = {"Retry-After": retry} if retry is not None else {}
    return httpx.Response(status, headers=headers, json=body if body is not None else {"status": status})


def test_429_and_503_wait_their_retry_after_within_the_bound() -> None:
    assert POLICY.after_response(0, answer(429, "2")) == 2.0
    assert POLICY.after_response(1, answer(503, "30")) == 30.0
    assert POLICY.after_response(0, answer(429, "31")) is None, "longer than max_retry_after: raised at once"
    assert POLICY.after_response(2, answer(429, "1")) is None, "max_retries spent"
    for status in (200, 201, 400, 404, 409, 413, 500):
        assert POLICY.after_response(0, answer(status, "1")) is None
    assert 0 <= POLICY.after_response(1, answer(503)) <= 1.0, "no Retry-After: back-off (0.5 × 2¹, jittered)"


def test_retry_after_as_an_http_date_or_in_the_body() -> None:
    soon = email.utils.formatdate(time.time() + 120, usegmt=True)
    assert 100 < retry_after(httpx.Headers({"Retry-After": soon}), None) <= 120
    assert retry_after(httpx.Headers(), {"retry_after": 7}) == 7.0
    assert retry_after(httpx.Headers({"Retry-After": "soon"}), None) is None
    limited = error_for(answer(429, "5", {"type": "t", "title": "Too many requests", "status": 429,
                                          "detail": "slow down", "retry_after": 5}))
    assert isinstance(limited, RateLimited) and limited.retry_after == 5.0 and limited.detail == "slow down"


@pytest.mark.parametrize(("error", "replayable", "resent"), [
    (httpx.ConnectError("refused"), False, True),  # never sent: safe for any call
    (httpx.ConnectTimeout("slow"), False, True),
    (httpx.RemoteProtocolError("closed"), True, True),  # maybe received: only a call safe to repeat
    (httpx.RemoteProtocolError("closed"), False, False),
    (httpx.ReadTimeout("slow"), False, False),
])
def test_transport_errors_are_resent_only_when_safe(error: Exception, replayable: bool, resent: bool) -> None:
    assert (POLICY.after_error(0, error, replayable) is not None) is resent
    assert POLICY.after_error(2, error, replayable) is None


def test_an_answer_that_is_not_a_problem_document_still_raises_with_its_status() -> None:
    err = error_for(httpx.Response(502, text="<html>Bad gateway</html>"))
    assert err.status == 502 and err.title == "Bad Gateway" and "Bad gateway" in err.detail and err.errors == []
