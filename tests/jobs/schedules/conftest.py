"""Schedules the tests fire by hand, with chosen ``now`` values (no waiting on a clock)."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from jobs.models import Schedule
from jobs.services import schedules

# The API tests' callers (and their clean limiter and key cache) for test_api.py.
from tests.jobs.api.conftest import api, clean_api_state, make_api, operator_api  # noqa: F401

#: A moment on every interval's grid (a multiple of 10 s since the epoch).
T0 = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def make_schedule(tenant: Any) -> Callable[..., Schedule]:
    def make(name: str = "tick", *, next_run_at: datetime = T0, **fields: Any) -> Schedule:
        data: dict[str, Any] = {"tenant": tenant.slug, "type": "noop", **fields}
        if "cron" not in data:
            data.setdefault("every", 10)
        schedule = schedules.create(name, data)
        Schedule.objects.filter(pk=schedule.pk).update(next_run_at=next_run_at)
        schedule.refresh_from_db()
        return schedule

    return make
