"""A ``django.tasks`` backend: ``@task``-decorated functions run on this engine.

    TASKS = {"default": {"BACKEND": "jobs.contrib.django_tasks.EngineBackend", "OPTIONS": {"TENANT": "acme"}}}

    @task(priority=50)
    def send_invoice(order_id): ...

    result = send_invoice.enqueue(order_id=42)   # inside transaction.atomic(): commits with it
    result.refresh(); result.status               # READY, RUNNING, SUCCESSFUL, FAILED

Django priorities (-100 … 100) map onto the engine's 1 … 5; ``run_after`` becomes a
scheduled task; results, errors and attempts come from the task row.
"""

from typing import Any

from django.tasks import TaskResult, TaskResultStatus
from django.tasks.backends.base import BaseTaskBackend
from django.tasks.base import Task as DjangoTask
from django.tasks.base import TaskContext as DjangoContext
from django.tasks.base import TaskError
from django.tasks.exceptions import TaskResultDoesNotExist
from django.utils.json import normalize_json
from django.utils.module_loading import import_string

from ..context import TaskContext
from ..exceptions import PermanentError
from ..lifecycle import Status
from ..models import Task
from ..registry import task
from ..services.enqueue import enqueue_or_get
from ..shapes import error_entries, error_text

#: The engine task type that carries a django.tasks call (refused over the HTTP API).
DJANGO_TASK_TYPE = "django_task"

STATUS = {
    Status.PENDING: TaskResultStatus.READY,
    Status.SCHEDULED: TaskResultStatus.READY,
    Status.RUNNING: TaskResultStatus.RUNNING,
    Status.COMPLETED: TaskResultStatus.SUCCESSFUL,
    Status.FAILED: TaskResultStatus.FAILED,
    Status.CANCELLED: TaskResultStatus.FAILED,
}


def engine_priority(django_priority: int) -> int:
    """-100 … 100 → 1 … 5 (0, Django's default, is the engine's default 3)."""
    return max(1, min(5, 3 + round(django_priority / 50)))


class EngineBackend(BaseTaskBackend):
    supports_defer = True
    supports_priority = True
    supports_get_result = True
    supports_async_task = False

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        if "QUEUES" not in params:
            self.queues = set()  # any queue name
        self.tenant = self.options.get("TENANT", "default")

    def enqueue(self, task: DjangoTask, args: Any, kwargs: Any) -> TaskResult:
        self.validate_task(task)
        spec: dict[str, Any] = {
            "type": DJANGO_TASK_TYPE,
            "queue": task.queue_name,
            "priority": engine_priority(task.priority),
            "payload": {
                "func": task.module_path,
                "args": normalize_json(args),
                "kwargs": normalize_json(kwargs),
                "takes_context": task.takes_context,
                "backend": self.alias,
            },
        }
        if task.run_after is not None:
            spec["run_at"] = task.run_after
        row = enqueue_or_get(self.tenant, spec).task
        return self._result(row, task)

    def get_result(self, result_id: str) -> TaskResult:
        try:
            row = Task.objects.get(pk=int(result_id), type=DJANGO_TASK_TYPE)
        except (Task.DoesNotExist, ValueError, OverflowError):
            raise TaskResultDoesNotExist(result_id) from None
        task = import_string(row.payload["func"])
        return self._result(row, task)

    def _result(self, row: Task, task: DjangoTask) -> TaskResult:
        entries = error_entries(row.errors)
        result: TaskResult = TaskResult(
            task=task,
            id=str(row.pk),
            status=STATUS[Status(row.status)],
            enqueued_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            last_attempted_at=row.started_at,
            args=row.payload.get("args", []),
            kwargs=row.payload.get("kwargs", {}),
            backend=self.alias,
            errors=[TaskError(exception_class_path=e.get("exception_path") or "builtins.Exception",
                              traceback=e.get("traceback") or error_text(e))
                    for e in entries],
            worker_ids=[e["worker"] for e in entries] + ([row.worker] if row.worker and
                                                         row.status != Status.FAILED else []),
        )
        object.__setattr__(result, "_return_value", row.result)
        return result


@task(DJANGO_TASK_TYPE, internal=True)
def django_task(payload: dict[str, Any], ctx: TaskContext) -> Any:
    """Run a ``django.tasks`` function enqueued through ``EngineBackend``."""
    try:
        target = import_string(payload["func"])
    except (ImportError, KeyError) as exc:
        raise PermanentError(f"cannot import the task function: {exc}") from None
    if not isinstance(target, DjangoTask):
        # Only functions declared with @django.tasks.task may run: never an arbitrary import path.
        raise PermanentError(f"{payload['func']} is not a django.tasks task")
    args, kwargs = payload.get("args", []), payload.get("kwargs", {})
    if target.takes_context:
        backend = target.get_backend()
        result = backend.get_result(str(ctx.task_id))
        return target.call(DjangoContext(task_result=result), *args, **kwargs)
    return target.call(*args, **kwargs)
