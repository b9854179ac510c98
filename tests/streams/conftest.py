"""The streams' real servers: a test daphne with a short heartbeat, and SSE clients closed after each test."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import DaphneServer
from tests.streams.client import Stream

HEARTBEAT_SECONDS = 1


@pytest.fixture
def daphne(worker_env: dict[str, str], tmp_path: Path) -> Iterator[DaphneServer]:
    server = DaphneServer(worker_env, tmp_path / "daphne.log", {
        "JOBS_SSE_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS), "JOBS_SSE_REVERIFY_SECONDS": "1",
        "JOBS_API_KEY_CACHE_SECONDS": "0",
    })
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()



@pytest.fixture
def streams() -> Iterator[Callable[..., Stream]]:
    opened: list[Stream] = []

    def open_stream(port: int, path: str, headers: dict[str, str] | None = None) -> Stream:
        s = Stream(port, path, headers)
        opened.append(s)
        s.wait(lambda s: s.status is not None, timeout=30, what=f"the response to {path}")
        return s

    yield open_stream
    for s in opened:
        s.close()
