"""The engine's public API: declare task types, enqueue, cancel, requeue.

    from jobs import enqueue, task

Names load on first use, so importing ``jobs`` before Django's app registry is ready
(settings, ``INSTALLED_APPS``) stays safe.
"""

from importlib import import_module
from typing import Any

_PUBLIC = {
    "task": "jobs.registry",
    "TaskContext": "jobs.context",
    "enqueue": "jobs.services.enqueue",
    "enqueue_many": "jobs.services.enqueue",
    "cancel": "jobs.services.control",
    "requeue": "jobs.services.control",
    "requeue_failed": "jobs.services.control",
    "InvalidTask": "jobs.exceptions",
    "InvalidTransition": "jobs.exceptions",
    "PermanentError": "jobs.exceptions",
    "TaskCancelled": "jobs.exceptions",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'jobs' has no attribute {name!r}")
    return getattr(import_module(_PUBLIC[name]), name)
