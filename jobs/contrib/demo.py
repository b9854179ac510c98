"""Built-in demo task types: ``noop``, ``sleep``, ``fail`` and the seed's simulated workloads."""

import random
from typing import Any

from ..context import TaskContext
from ..exceptions import PermanentError
from ..registry import task


@task("noop", timeout=30)
def noop(payload: dict[str, Any], ctx: TaskContext) -> None:
    """Return at once (benchmarks and smoke tests)."""
    return None


@task("sleep", timeout=3600)
def sleep(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Sleep ``payload['seconds']``, stopping early when cancelled."""
    seconds = float(payload.get("seconds", 1))
    cancelled = ctx.sleep(seconds)
    ctx.raise_if_cancelled()
    return {"slept": seconds, "cancelled": cancelled}


class DemoFailure(Exception):
    """The failure the demo types raise."""


@task("fail", max_retries=3)
def fail(payload: dict[str, Any], ctx: TaskContext) -> None:
    """Always raise (exercise retries and the dead-letter set)."""
    if payload.get("permanent"):
        raise PermanentError(payload.get("message", "permanent failure requested"))
    raise DemoFailure(payload.get("message", f"failure requested (attempt {ctx.attempt})"))


#: The seed's simulated workloads (the demo data of `runengine --demo` and /api/demo/seed).
SIMULATED_TYPES = ["send_email", "resize_image", "generate_report", "call_webhook"]


def _simulate(kind: str, payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    # The seed's handlers: sleep 0.5–3 s, fail 20% of the time; the payload can pin both.
    duration_ms = payload.get("duration_ms")
    seconds = float(duration_ms) / 1000 if duration_ms is not None else random.uniform(0.5, 3.0)  # noqa: S311
    fail_rate = float(payload.get("fail_rate", 0.2))
    ctx.sleep(seconds)
    ctx.raise_if_cancelled()
    if random.random() < fail_rate:  # noqa: S311
        raise DemoFailure(f"simulated {kind} failure")
    return {"simulated": kind, "duration_ms": round(seconds * 1000)}


@task("send_email", timeout=60)
def send_email(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    return _simulate("send_email", payload, ctx)


@task("resize_image", timeout=60)
def resize_image(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    return _simulate("resize_image", payload, ctx)


@task("generate_report", timeout=120)
def generate_report(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    return _simulate("generate_report", payload, ctx)


@task("call_webhook", timeout=60)
def call_webhook(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    return _simulate("call_webhook", payload, ctx)
