"""The one shape of a worker thread (jobs.worker.service), and the pieces it is built from; no database."""

import logging
import threading
import time
from itertools import pairwise

import pytest
from django.db.utils import OperationalError

from jobs.context import TaskContext
from jobs.lifecycle import Status
from jobs.store import finish as outcomes
from jobs.worker.completer import Completer
from jobs.worker.service import Service
from tests.support.waiting import wait_for


class Recorder(Service):
    """Records when each step ran; fails the steps listed in ``fail``."""

    def __init__(self, delay: float, fail: int = 0) -> None:
        super().__init__("recorder")
        self.delay = delay
        self.fail = fail
        self.steps: list[float] = []
        self.torn_down = threading.Event()

    def step(self) -> float:
        self.steps.append(time.monotonic())
        if len(self.steps) <= self.fail:
            raise OperationalError("database went away")
        return self.delay

    def teardown(self) -> None:
        self.torn_down.set()


def test_a_service_waits_the_delay_its_step_returns_and_notify_cuts_it_short() -> None:
    service = Recorder(delay=30)
    service.start()
    try:
        wait_for(lambda: len(service.steps) == 1, timeout=5, what="the first step")
        time.sleep(0.2)
        assert len(service.steps) == 1, "waits the 30 s its step asked for"
        service.notify()
        wait_for(lambda: len(service.steps) == 2, timeout=5, what="the notified step")
    finally:
        service.stop()
        service.join(5)


@pytest.mark.parametrize(("fail", "error_delay", "what"), [
    pytest.param(0, None, "the first step", id="wait"),
    pytest.param(1, 30, "the failing step", id="back-off"),
])
def test_stop_ends_the_wait_or_the_back_off_at_once_and_tears_down(fail: int, error_delay: float | None,
                                                                  what: str) -> None:
    service = Recorder(delay=30, fail=fail)
    if error_delay is not None:
        service.error_delay = error_delay
    service.start()
    wait_for(lambda: service.steps, timeout=5, what=what)
    started = time.monotonic()
    service.stop()
    service.join(5)
    assert not service.is_alive() and time.monotonic() - started < 2
    assert service.torn_down.is_set()
    assert len(service.steps) == 1


def test_a_database_error_backs_off_whatever_news_arrives_and_warns_once(caplog) -> None:
    service = Recorder(delay=30, fail=3)
    service.error_delay = 0.3
    with caplog.at_level(logging.WARNING, logger="jobs.worker.service"):
        service.start()
        try:
            wait_for(lambda: service.steps, timeout=5, what="the first step")
            deadline = time.monotonic() + 2
            while len(service.steps) < 4 and time.monotonic() < deadline:
                service.notify()  # a flood of wake-ups must not hammer a failing database
                time.sleep(0.01)
        finally:
            service.stop()
            service.join(5)
    assert len(service.steps) == 4, "recovers after the errors"
    gaps = [b - a for a, b in pairwise(service.steps)]
    assert all(gap >= 0.3 * 0.9 for gap in gaps[:3]), gaps
    warnings = [r for r in caplog.records if "database error" in r.getMessage()]
    assert len(warnings) == 1, "repeats are muted"


def test_cancel_reaches_the_handler_through_its_context() -> None:
    ctx = TaskContext(task_id=1, attempt=1, tenant_id=1, tenant_slug="acme", type="t", queue="q", worker="w")
    assert not ctx.cancelled and ctx.sleep(0) is False
    ctx.cancel()
    assert ctx.cancelled and ctx.sleep(30) is True


def test_unwritten_outcomes_stay_unwritten_through_a_failed_write(monkeypatch: pytest.MonkeyPatch) -> None:
    completer = Completer(worker_id="w")
    for task_id in (1, 2, 3):
        completer.add(outcomes.Outcome(task_id, 1, Status.COMPLETED, {"status": Status.COMPLETED}, run=task_id + 10))
    runs = [(1, 11), (2, 12), (3, 13)]
    seen_while_writing: list[list[tuple[int, int]]] = []

    def failing_write(chunk: list[outcomes.Outcome], *, fence: object) -> int:
        seen_while_writing.append(completer.unwritten_runs())
        raise OperationalError("database went away")

    monkeypatch.setattr(outcomes, "write", failing_write)
    with pytest.raises(OperationalError):
        completer.flush()
    assert seen_while_writing == [runs], "taken for writing is still unwritten"
    assert completer.unwritten_runs() == runs and completer.written == 0

    monkeypatch.setattr(outcomes, "write", lambda chunk, *, fence: len(chunk))
    assert completer.drain(timeout=5)
    assert completer.unwritten_runs() == [] and completer.written == 3


def test_worker_tunables_are_engine_settings_with_their_old_defaults_and_checks(settings) -> None:
    from jobs.conf import EngineConf, conf

    defaults = EngineConf()
    assert (defaults.READY_CACHE_SECONDS, defaults.TENANT_CACHE_SECONDS, defaults.CANCEL_CHECK_SECONDS,
            defaults.WAKEUP_RETRY_SECONDS, defaults.WAKEUP_RETRY_MAX_SECONDS) == (0.5, 10.0, 1.0, 0.5, 10.0)
    # JOBS_<KEY> environment values reach the conf through settings.JOBS_ENV (settings.py reads the environment).
    settings.JOBS_ENV = {**settings.JOBS_ENV, "CANCEL_CHECK_SECONDS": "0.25"}
    assert conf().CANCEL_CHECK_SECONDS == 0.25
    problems = EngineConf(CANCEL_CHECK_SECONDS=0, WAKEUP_RETRY_SECONDS=2.0, WAKEUP_RETRY_MAX_SECONDS=1.0).validate()
    assert "JOBS['CANCEL_CHECK_SECONDS'] must be positive" in problems
    assert "JOBS['WAKEUP_RETRY_MAX_SECONDS'] must be at least WAKEUP_RETRY_SECONDS" in problems
