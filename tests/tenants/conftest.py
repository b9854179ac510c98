"""Fixtures of the tenants tests: a fresh limiter key and state, and a Redis that never answers."""

import socket
import uuid
from collections.abc import Iterator

import pytest

from tenants import ratelimit


@pytest.fixture
def key() -> str:
    return f"test-{uuid.uuid4().hex}"


@pytest.fixture(autouse=True)
def fresh_limiter_state() -> None:
    """Each test starts with a closed breaker and an unsuppressed warning."""
    ratelimit.reset()


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP port that accepts connections and never answers: a hung Redis."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
