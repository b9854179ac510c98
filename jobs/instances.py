"""Unsaved ``Task`` instances for a batch, without ``Model.__init__`` per task.

``Task(**fields)`` walks every field of the model, calling each default it is not given (≈ 20
of them, some reading the conf): tens of microseconds a task, most of a validated batch's time.
A batch's tasks share their tenant and the defaults of the fields a spec never sets, so those
are taken once, from one ``Task`` built the ordinary way, and each task copies them and adds
its own values. The result is what ``Task(tenant=…, **fields)`` gives (no model signal is
involved: the engine connects none to ``Task``, and ``tests/jobs/api`` pins the rows).
"""

from copy import copy
from typing import Any

from django.db.models.base import ModelState

from tenants.models import Tenant

from .models import Task


class Maker:
    """``Maker(tenant)(fields)`` → ``Task(tenant=tenant, **fields)``, for many ``fields``."""

    __slots__ = ("_base", "_mutable", "_tenant")

    def __init__(self, tenant: Tenant) -> None:
        prototype = Task(tenant=tenant)
        self._tenant = tenant
        self._base = {k: v for k, v in prototype.__dict__.items() if k != "_state"}
        # Defaults that are containers (``errors=list``): each task gets its own.
        self._mutable = [k for k, v in self._base.items() if isinstance(v, (list, dict))]

    def __call__(self, fields: dict[str, Any]) -> Task:
        task = Task.__new__(Task)
        values = task.__dict__
        values.update(self._base)
        for name in self._mutable:
            values[name] = copy(values[name])
        values.update(fields)
        state = ModelState()
        state.fields_cache["tenant"] = self._tenant
        values["_state"] = state
        return task
