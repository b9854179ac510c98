"""Noticing a client that stopped reading, so that its stream can be dropped before the server holds too much.

ASGI's ``send`` never waits: daphne hands every body straight to Twisted, whose transport
buffers in memory whatever the socket cannot take. A client that never reads therefore
makes the server hold every event written to it (up to nginx's ``proxy_read_timeout``).
Twisted's own flow control is the way to see it: a push producer registered on the request
is paused when the transport's buffer passes its ``bufferSize`` (64 KiB) and resumed once
that buffer is empty. ``SendBuffer`` is that producer; what the stream writes while it is
paused is still held by the server, which is the count ``SSE_MAX_BUFFER_BYTES`` bounds. The
write that fills the buffer is not counted: Twisted pauses before it even tries the socket,
so a burst to a client that reads would count as held too.

The request is found behind ``send`` (daphne's ``partial(server.handle_reply, request)``,
perhaps wrapped by Channels' session middleware). Under another server, or the test
communicator, there is none and streams run without the bound.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from typing import Any

logger = logging.getLogger(__name__)


def _request_behind(send: Any) -> Any | None:
    """The Twisted request a daphne ``send`` writes to, or None."""
    for _ in range(8):  # a handful of wrappers at most
        if isinstance(send, functools.partial):
            for arg in send.args:
                if callable(getattr(arg, "registerProducer", None)) and hasattr(arg, "channel"):
                    return arg
            send = send.func
        elif hasattr(send, "__self__") and hasattr(send.__self__, "real_send"):
            send = send.__self__.real_send  # channels.sessions.InstanceSessionWrapper
        else:
            return None
    return None


class SendBuffer:
    """A Twisted push producer on one streaming response: how much it wrote since the transport filled up."""

    def __init__(self, request: Any) -> None:
        self.request = request
        self.paused = False
        #: Bytes written since the transport's buffer filled; it has not emptied since, so all are still held.
        self.held = 0

    @classmethod
    def attach(cls, send: Any) -> SendBuffer | None:
        """Register on the request behind ``send``; None when there is none (not daphne)."""
        request = _request_behind(send)
        if request is None:
            return None
        buffer = cls(request)
        try:
            request.registerProducer(buffer, True)
        except (ValueError, RuntimeError, AttributeError):
            logger.debug("event stream: cannot watch this connection's send buffer")
            return None
        return buffer

    # -- Twisted's IPushProducer (its names), called on the event loop's thread
    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False
        self.held = 0

    def stopProducing(self) -> None:
        self.paused = True

    # -- the stream's side
    def wrote(self, size: int, *, was_paused: bool) -> int:
        """Count ``size`` bytes just written (while paused since before it: not drained since); return the count."""
        if was_paused and self.paused:
            self.held += size
        return self.held

    def abort(self) -> None:
        """Drop the connection now, discarding what it holds (closing it would wait to flush it)."""
        channel = getattr(self.request, "channel", None)
        transport = getattr(channel, "transport", None)
        if transport is not None:
            transport.abortConnection()

    def detach(self) -> None:
        with contextlib.suppress(Exception):  # the request may be finished and its channel gone
            self.request.unregisterProducer()
