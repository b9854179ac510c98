"""The retry policy: exponential backoff with jitter, then the dead-letter set."""

import random
from datetime import datetime, timedelta

from .exceptions import PermanentError, TaskCancelled
from .registry import TaskType


def backoff_delay(attempt: int, *, base: float, cap: float) -> float:
    """Seconds before the next run after ``attempt`` failed: base·2^(n-1), ±25% jitter, capped."""
    exp = base * (2 ** max(0, attempt - 1))
    return min(cap, exp * random.uniform(0.75, 1.25))  # noqa: S311


def should_retry(exc: BaseException, *, attempt: int, max_retries: int, task_type: TaskType | None) -> bool:
    if isinstance(exc, (PermanentError, TaskCancelled)):
        return False
    if attempt > max_retries:
        return False
    retry_on = task_type.retry_on if task_type else (Exception,)
    return isinstance(exc, retry_on)


def next_run_at(now: datetime, attempt: int, *, base: float, cap: float) -> datetime:
    return now + timedelta(seconds=backoff_delay(attempt, base=base, cap=cap))
