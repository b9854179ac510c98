"""The engine's tables: the queue, the worker registry, the outbox, the analytics rollups."""

from .event import Event
from .gates import ConcurrencyKey, Pause, Resource, ResourceBucket
from .grants import TypeGrant
from .stats import TaskStat, ThroughputBucket
from .task import Task, TaskQuerySet
from .worker import WorkerProcess, WorkerProcessQuerySet

__all__ = [
    "ConcurrencyKey",
    "Event",
    "Pause",
    "Resource",
    "ResourceBucket",
    "Task",
    "TaskQuerySet",
    "TaskStat",
    "ThroughputBucket",
    "TypeGrant",
    "WorkerProcess",
    "WorkerProcessQuerySet",
]
