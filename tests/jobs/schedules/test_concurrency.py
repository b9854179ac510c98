"""Exactly one task per tick when many connections fire the same schedule at once (MariaDB row locks)."""

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from django.db import transaction

from jobs.models import Schedule, ScheduleTick, Task
from jobs.services import firing
from tests.support.threads import together

from .conftest import T0

pytestmark = [pytest.mark.mariadb, pytest.mark.django_db(transaction=True)]

THREADS = 8


def in_threads(work: Callable[[int], None]) -> None:
    """Run ``work(i)`` on THREADS threads (each its own connection) released together."""
    together(THREADS, work, timeout=120)


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_many_instances_firing_one_tick_enqueue_one_task(make_schedule: Callable[..., Schedule]) -> None:
    schedule = make_schedule()
    fired: list[int] = []
    in_threads(lambda i: fired.append(firing.fire_due(s(0.5))))
    assert sorted(fired) == [0] * (THREADS - 1) + [1]
    assert list(ScheduleTick.objects.values_list("tick_at", flat=True)) == [T0]
    assert Task.objects.count() == 1
    schedule.refresh_from_db()
    assert schedule.next_run_at == s(10)


def test_the_uniqueness_decides_without_the_lock(make_schedule: Callable[..., Schedule]) -> None:
    """Instances that all read the schedule before any of them committed (no lock taken) still make one task."""
    schedule = make_schedule()

    def fire(i: int) -> None:
        with transaction.atomic():
            firing.fire_tick(schedule, T0, now=s(0.1 + i / 100))

    in_threads(fire)
    assert ScheduleTick.objects.count() == 1
    assert Task.objects.count() == 1
    assert ScheduleTick.objects.get().task_id == Task.objects.get().pk


def test_racing_through_many_ticks_fires_each_once(make_schedule: Callable[..., Schedule]) -> None:
    make_schedule()
    ticks = 30
    rounds = threading.Barrier(THREADS)

    def fire(i: int) -> None:
        # The threads walk one timeline together, each a little off the others: every tick is contended.
        for n in range(ticks):
            rounds.wait(timeout=60)
            firing.fire_due(s(10 * n + 0.2 + i / 50))

    in_threads(fire)
    fired = list(ScheduleTick.objects.order_by("tick_at").values_list("tick_at", "skipped", "task_id"))
    assert [t for t, _, _ in fired] == [s(10 * n) for n in range(ticks)]
    assert all(skipped == 0 and task for _, skipped, task in fired)
    assert Task.objects.count() == ticks
