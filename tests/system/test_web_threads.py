"""``engine_site.threads``: Django's views on persistent threads inside the ASGI app.

A plain WSGI callable stands in for Django here, so that what crosses between the event
loop and the thread (messages, sizes, the thread itself) can be seen; the real views go
through the same code in every test that talks to ``manage.py serve``.
"""

import asyncio
import threading
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from engine_site import threads

SCOPE = {"type": "http", "method": "POST", "path": "/x", "raw_path": b"/x", "root_path": "", "query_string": b"a=1",
         "http_version": "1.1", "scheme": "http", "server": ("127.0.0.1", 8000), "client": ("10.0.0.9", 5555),
         "headers": [(b"content-type", b"application/json"), (b"content-length", b"7"), (b"x-key", b"k")]}


def serve(app: Callable[..., Iterable[bytes]], messages: list[dict[str, Any]], *, threads_n: int = 2,
          requests: int = 1) -> tuple[list[list[dict[str, Any]]], threads.DjangoOnThreads]:
    bridge = threads.DjangoOnThreads(threads_n)
    bridge.app = app  # type: ignore[assignment]
    sent: list[list[dict[str, Any]]] = []

    async def one() -> None:
        queue = list(messages)
        out: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return queue.pop(0) if queue else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            out.append(message)

        await bridge(SCOPE, receive, send)
        sent.append(out)

    async def main() -> None:
        for _ in range(requests):
            await one()

    asyncio.run(main())
    return sent, bridge


def test_a_small_response_is_one_start_and_one_body_with_the_request_as_wsgi_sees_it() -> None:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        seen.update(environ, body=environ["wsgi.input"].read(), in_flight=threads.in_flight())
        start_response("201 Created", [("Content-Type", "application/json"), ("X-Id", "7")])
        return [b'{"a":', b"1}"]

    sent, _ = serve(app, [{"type": "http.request", "body": b'{"b"', "more_body": True},
                          {"type": "http.request", "body": b":2}", "more_body": False}])
    assert sent == [[{"type": "http.response.start", "status": 201,
                      "headers": [(b"content-type", b"application/json"), (b"x-id", b"7")]},
                     {"type": "http.response.body", "body": b'{"a":1}'}]]
    assert seen["body"] == b'{"b":2}'
    assert (seen["REQUEST_METHOD"], seen["PATH_INFO"], seen["QUERY_STRING"]) == ("POST", "/x", "a=1")
    assert (seen["CONTENT_TYPE"], seen["CONTENT_LENGTH"], seen["HTTP_X_KEY"]) == ("application/json", "7", "k")
    assert seen["REMOTE_ADDR"] == "10.0.0.9"
    assert seen["in_flight"] == 1, "a request is counted while Django serves it"
    assert threads.in_flight() == 0


def test_a_response_past_the_buffer_is_streamed_in_order() -> None:
    part = b"x" * (threads.BUFFERED_BYTES // 2 + 1)
    closed: list[bool] = []

    class Body:
        def __iter__(self) -> Any:
            yield from (part, b"y" * 10, part, b"z")

        def close(self) -> None:
            closed.append(True)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Body:
        start_response("200 OK", [])
        return Body()

    [out], _ = serve(app, [{"type": "http.request", "body": b""}])
    assert out[0] == {"type": "http.response.start", "status": 200, "headers": []}
    bodies = out[1:]
    assert [m.get("more_body", False) for m in bodies] == [True] * (len(bodies) - 1) + [False]
    assert len(bodies) > 2, "not held in one message"
    assert b"".join(m["body"] for m in bodies) == part + b"y" * 10 + part + b"z"
    assert closed == [True], "the iterable is closed (Django's request_finished)"


def test_every_request_runs_on_one_of_the_kept_threads() -> None:
    idents: list[int] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        idents.append(threading.get_ident())
        start_response("200 OK", [])
        return [b""]

    serve(app, [{"type": "http.request", "body": b""}], threads_n=1, requests=3)
    assert len(idents) == 3 and len(set(idents)) == 1, "one thread, so one database connection, for all"
    assert threading.get_ident() not in idents


def test_a_client_gone_before_its_body_arrived_is_not_served() -> None:
    called: list[bool] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        called.append(True)
        return []

    sent, _ = serve(app, [{"type": "http.request", "body": b"{", "more_body": True}, {"type": "http.disconnect"}])
    assert sent == [[]] and called == []
    assert threads.in_flight() == 0


def test_a_bridge_needs_a_thread() -> None:
    with pytest.raises(ValueError, match="at least one thread"):
        threads.DjangoOnThreads(0)
