"""Request bodies bounded before anyone reads them: ``API_MAX_BODY_BYTES`` decides, not Django's.

Behind nginx (``client_max_body_size``, the same figure) no body over the limit reaches a web
instance, and nginx hands chunked bodies on with a Content-Length. ``BodyLimit`` holds the same
line for an instance reached directly: daphne gives Django's ASGI handler every body, which
spools it whole (to disk past ``FILE_UPLOAD_MAX_MEMORY_SIZE``) before any middleware or view
runs, so the check sits in front of that handler:

- a Content-Length over the limit is answered 413 at once, without receiving a byte of the body;
- a body without one (chunked) is received message by message and refused as soon as it passes
  the limit; one within it reaches Django whole, with its Content-Length set (DRF parses only
  bodies that declare a length, so a chunked body would otherwise arrive as none).

The parser (``jobs.api.parsers``) reads at most the limit too, whatever the server in front.
"""

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ..problems import CONTENT_TYPE, problem
from .conf import api_conf

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def too_large(limit: int, length: int | None = None) -> dict[str, Any]:
    """The 413 problem document: it names the limit (and the declared length, when known)."""
    size = f"{length} bytes" if length is not None else "longer than that"
    return problem(413, f"The request body is {size}; the limit is {limit} bytes (API_MAX_BODY_BYTES).",
                   kind="payload-too-large", extra={"limit": limit})


def declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The Content-Length header as a number; ``None`` when absent; -1 when unreadable (left to Django)."""
    values = [v for k, v in headers if k.lower() == b"content-length"]
    if not values:
        return None
    try:
        return int(values[0]) if len(values) == 1 else -1
    except ValueError:
        return -1


class BodyLimit:
    """ASGI middleware refusing HTTP request bodies over ``API_MAX_BODY_BYTES`` before they are stored."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = api_conf().API_MAX_BODY_BYTES
        length = declared_length(scope.get("headers", []))
        if length is not None:
            if length > limit:
                await self._refuse(send, too_large(limit, length))
                return
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            if len(body) > limit:
                await self._refuse(send, too_large(limit))
                return
            if not message.get("more_body", False):
                break
        await self.app(self._with_length(scope, len(body)), self._replay(bytes(body), receive), send)

    @staticmethod
    def _with_length(scope: Scope, length: int) -> Scope:
        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"transfer-encoding"]
        return {**scope, "headers": [*headers, (b"content-length", str(length).encode())]}

    @staticmethod
    def _replay(body: bytes, receive: Receive) -> Receive:
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()  # what follows the body: a disconnect
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay

    @staticmethod
    async def _refuse(send: Send, document: dict[str, Any]) -> None:
        payload = json.dumps(document).encode()
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", CONTENT_TYPE.encode()), (b"content-length", str(len(payload)).encode()),
            # The unread body is still on the wire: the connection cannot carry another request.
            (b"connection", b"close"),
        ]})
        await send({"type": "http.response.body", "body": payload})
