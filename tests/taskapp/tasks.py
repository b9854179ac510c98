"""Task types the tests use (discovered like any app's ``tasks`` module)."""

import os
import time
from typing import Any

from jobs.context import TaskContext
from jobs.registry import task


def _log(payload: dict[str, Any], ctx: TaskContext, event: str) -> None:
    path = payload.get("log")
    if path:
        # One O_APPEND write per line: lines from many processes never interleave.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{event} {ctx.task_id} {ctx.attempt} {ctx.worker} {time.time():.6f}\n".encode())
        finally:
            os.close(fd)


@task("record", timeout=60)
def record(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Log the start and the end of each execution to ``payload['log']``; sleep ``sleep_ms``."""
    _log(payload, ctx, "start")
    if payload.get("sleep_ms"):
        time.sleep(payload["sleep_ms"] / 1000)
    _log(payload, ctx, "end")
    return {"task": ctx.task_id, "attempt": ctx.attempt}


@task("record_long", timeout=60)
def record_long(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """``record`` under a second type name, with a cost of its own (the time-fair tests)."""
    return record(payload, ctx)


@task("flaky", max_retries=5)
def flaky(payload: dict[str, Any], ctx: TaskContext) -> str:
    """Fail the first ``fail_times`` attempts, then succeed."""
    if ctx.attempt <= payload.get("fail_times", 1):
        raise RuntimeError(f"flaky failure on attempt {ctx.attempt}")
    return "ok"


class NotWorthRetrying(Exception):
    pass


@task("picky", max_retries=3, retry_on=(TimeoutError,))
def picky(payload: dict[str, Any], ctx: TaskContext) -> None:
    """Raise an exception the type does not retry (or one it does, with ``retryable``)."""
    if payload.get("retryable"):
        raise TimeoutError("upstream timed out")
    raise NotWorthRetrying("bad input")


@task("stubborn", timeout=1, max_retries=0)
def stubborn(payload: dict[str, Any], ctx: TaskContext) -> str:
    """Ignore cancellation and timeouts: block for ``seconds`` in plain time.sleep."""
    time.sleep(payload.get("seconds", 3))
    return "finished late"


@task("cooperative", timeout=60)
def cooperative(payload: dict[str, Any], ctx: TaskContext) -> str:
    """Run until cancelled (checking the flag), then return normally."""
    _log(payload, ctx, "start")
    deadline = time.monotonic() + payload.get("seconds", 30)
    while time.monotonic() < deadline and not ctx.cancelled:
        time.sleep(0.02)
    return "saw cancellation" if ctx.cancelled else "ran to the end"


@task("hardy", max_lost=5)
def hardy(payload: dict[str, Any], ctx: TaskContext) -> None:
    """A type that may lose more runs with their worker than the default allows."""


@task("crash", max_retries=0)
def crash(payload: dict[str, Any], ctx: TaskContext) -> None:
    """Kill the worker process running it, as a payload that segfaults an extension would."""
    _log(payload, ctx, "start")
    os.kill(os.getpid(), 9)


def _runs(payload: dict[str, Any], ctx: TaskContext) -> int:
    """How many times this task has started so far (lines logged by ``_log``)."""
    with open(payload["log"]) as f:
        return sum(1 for line in f if line.split()[:2] == ["start", str(ctx.task_id)])


@task("snoozy", max_retries=0)
def snoozy(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Snooze ``payload['seconds']`` on the first ``times`` runs (inside a handler's ``except
    Exception``, which must not catch it), then return the run count and the attempt."""
    _log(payload, ctx, "start")
    runs = _runs(payload, ctx)
    if runs <= payload.get("times", 1):
        try:
            ctx.snooze(payload.get("seconds", 0.2))
        except Exception:  # a handler's usual catch-all: a snooze passes through it
            return {"swallowed": True}
    return {"runs": runs, "attempt": ctx.attempt}


@task("snooze-when-cancelled", timeout=60, max_retries=0)
def snooze_when_cancelled(payload: dict[str, Any], ctx: TaskContext) -> None:
    """Wait for a cancel, then snooze anyway: the cancel must win."""
    _log(payload, ctx, "start")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not ctx.cancelled:
        time.sleep(0.02)
    ctx.snooze(5)


@task("snooze-for", max_retries=0)
def snooze_for(payload: dict[str, Any], ctx: TaskContext) -> None:
    """Snooze ``payload['seconds']`` (whatever it is) on every run."""
    ctx.snooze(payload["seconds"])
