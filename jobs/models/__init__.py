"""The engine's tables: the queue, the worker registry, the outbox, the analytics rollups, schedules,
the audit log, background bulk actions and webhook endpoints."""

from .audit import AuditEntry
from .bulk import BulkAction
from .event import Event
from .gates import ConcurrencyKey, Pause, Resource, ResourceBucket
from .grants import TypeGrant
from .idempotency import BatchKey
from .schedules import Schedule, ScheduleTick
from .stats import TaskStat, ThroughputBucket
from .task import Task, TaskQuerySet
from .webhooks import Webhook
from .worker import WorkerProcess, WorkerProcessQuerySet

__all__ = [
    "AuditEntry",
    "BatchKey",
    "BulkAction",
    "ConcurrencyKey",
    "Event",
    "Pause",
    "Resource",
    "ResourceBucket",
    "Schedule",
    "ScheduleTick",
    "Task",
    "TaskQuerySet",
    "TaskStat",
    "ThroughputBucket",
    "TypeGrant",
    "Webhook",
    "WorkerProcess",
    "WorkerProcessQuerySet",
]
