"""Fixtures of the service tests: ``announcements`` records the wake-ups this process announces."""

from collections.abc import Iterator
from typing import Any

import pytest

from jobs.notify import wakeup


@pytest.fixture
def announcements(settings: Any, tmp_path: Any) -> Iterator[list[bytes]]:
    """Every wake-up announced in this process, in order."""
    # Keep socket wake-ups away from any worker another run may have under var/.
    settings.VAR_DIR = tmp_path
    seen: list[bytes] = []

    def record(sender: Any, kind: bytes, **_: Any) -> None:
        seen.append(kind)

    wakeup.announced.connect(record)
    yield seen
    wakeup.announced.disconnect(record)
