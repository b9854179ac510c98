"""The engine's tables: the queue, the worker registry, the outbox, the analytics rollups."""

from .event import Event
from .stats import TaskStat, ThroughputBucket
from .task import Task, TaskQuerySet
from .worker import WorkerProcess, WorkerProcessQuerySet

__all__ = [
    "Event",
    "Task",
    "TaskQuerySet",
    "TaskStat",
    "ThroughputBucket",
    "WorkerProcess",
    "WorkerProcessQuerySet",
]
