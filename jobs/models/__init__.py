"""The engine's tables: the queue, the worker registry, the analytics rollups."""

from .event import Event
from .stats import TaskStat, ThroughputBucket
from .task import FINISHED, WAITING, Status, Task, TaskQuerySet
from .worker import WorkerProcess, WorkerProcessQuerySet

__all__ = [
    "FINISHED",
    "WAITING",
    "Event",
    "Status",
    "Task",
    "TaskQuerySet",
    "TaskStat",
    "ThroughputBucket",
    "WorkerProcess",
    "WorkerProcessQuerySet",
]
