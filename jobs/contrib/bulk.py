"""The internal task type that runs operators' bulk actions in the background (``jobs.services.bulk``)."""

from typing import Any

from ..context import TaskContext
from ..registry import task
from ..services import bulk


# An hour per run: a run cut off by it (or by a lost worker) resumes where it stopped on the retry.
@task(bulk.BULK_TYPE, internal=True, timeout=3600, max_timeout=3600, max_retries=3)
def bulk_action(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    return bulk.run(ctx)
