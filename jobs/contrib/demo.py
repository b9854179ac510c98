"""Built-in demo task types: ``noop``, ``sleep``, ``fail`` and the seed's simulated workloads.

Registered only by :func:`register`, which ``JobsConfig.ready()`` calls when demo types are enabled
(``JOBS['DEMO_TYPES']``; by default, unless ``settings.PRODUCTION``): in production any tenant could
otherwise hold every worker slot with ``sleep`` or retry ``fail`` without end.
"""

import random
from typing import Any

from ..context import TaskContext
from ..exceptions import PermanentError
from ..registry import Handler, task


def noop(payload: dict[str, Any], ctx: TaskContext) -> None:
    """Return at once (benchmarks and smoke tests)."""
    return None


def sleep(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Sleep ``payload['seconds']``, stopping early when cancelled."""
    seconds = float(payload.get("seconds", 1))
    cancelled = ctx.sleep(seconds)
    ctx.raise_if_cancelled()
    return {"slept": seconds, "cancelled": cancelled}


class DemoFailure(Exception):
    """The failure the demo types raise."""


def fail(payload: dict[str, Any], ctx: TaskContext) -> None:
    """Always raise (exercise retries and the dead-letter set)."""
    if payload.get("permanent"):
        raise PermanentError(payload.get("message", "permanent failure requested"))
    raise DemoFailure(payload.get("message", f"failure requested (attempt {ctx.attempt})"))


#: The seed's simulated workloads and their timeouts (the demo data of `runengine --demo` and /api/demo/seed).
SIMULATED = {"send_email": 60, "resize_image": 60, "generate_report": 120, "call_webhook": 60}
SIMULATED_TYPES = list(SIMULATED)


def simulated(kind: str) -> Handler:
    """The seed's handler for ``kind``: sleep 0.5–3 s, fail 20% of the time; the payload can pin both."""

    def run(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
        duration_ms = payload.get("duration_ms")
        seconds = float(duration_ms) / 1000 if duration_ms is not None else random.uniform(0.5, 3.0)  # noqa: S311
        fail_rate = float(payload.get("fail_rate", 0.2))
        ctx.sleep(seconds)
        ctx.raise_if_cancelled()
        if random.random() < fail_rate:  # noqa: S311
            raise DemoFailure(f"simulated {kind} failure")
        return {"simulated": kind, "duration_ms": round(seconds * 1000)}

    run.__name__ = run.__qualname__ = kind
    return run


#: One handler per kind, made once: registering twice then registers the same functions (harmless).
_SIMULATED_HANDLERS = {kind: simulated(kind) for kind in SIMULATED}


def register() -> None:
    """Register the demo types."""
    task("noop", timeout=30)(noop)
    task("sleep", timeout=3600)(sleep)
    task("fail", max_retries=3)(fail)
    for kind, timeout in SIMULATED.items():
        task(kind, timeout=timeout)(_SIMULATED_HANDLERS[kind])
