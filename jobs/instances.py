"""Unsaved ``Task`` instances for a batch: each distinct spec validated once, no ``Model.__init__`` per task.

``Task(**fields)`` walks every field of the model, calling each default it is not given (≈ 20
of them, some reading the conf): tens of microseconds a task, most of a validated batch's time.
A batch's tasks share their tenant and the defaults of the fields a spec never sets, so those
are taken once, from one ``Task`` built the ordinary way, and each task copies them and adds
its own values. The result is what ``Task(tenant=…, **fields)`` gives (no model signal is
involved: the engine connects none to ``Task``, and ``tests/jobs/api`` pins the rows).

A batch often repeats one spec (the same type, options and payload): ``Shapes`` checks each
distinct one once and hands the later ones the same field values, or the same error.
"""

import json
from collections.abc import Callable, Hashable, Mapping
from copy import copy
from typing import Any

from django.db.models.base import ModelState

from tenants.models import Tenant

from .exceptions import InvalidTask
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


class Shapes:
    """``Shapes(build)(spec)`` → ``build(spec)``, computed once per distinct spec of one batch.

    ``build`` must depend on nothing but the spec (``jobs.spec`` fixes the batch's clock and
    allowance). Specs are told apart by their canonical JSON; one that has none (Python values
    such as a ``datetime``) or whose payload is a string (parsed by ``build``) is built each time.
    Each task keeps its own spec's payload object, as ``build`` gives it. A batch whose first
    ``TRIAL`` specs all differ is taken for one of distinct specs: the rest are built directly
    (telling them apart would cost a third of building them).
    """

    TRIAL = 16

    __slots__ = ("_build", "_hits", "_seen")

    def __init__(self, build: Callable[[Mapping[str, Any]], dict[str, Any]]) -> None:
        self._build = build
        self._seen: dict[Hashable, dict[str, Any] | InvalidTask] = {}
        self._hits = 0

    def __call__(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        payload = spec.get("payload")
        if (payload is not None and not isinstance(payload, dict)) or (
                not self._hits and len(self._seen) >= self.TRIAL):
            return self._build(spec)
        try:
            key = _key(spec)
        except (TypeError, ValueError, RecursionError):
            return self._build(spec)
        known = self._seen.get(key)
        if known is None:
            try:
                known = self._build(spec)
            except InvalidTask as exc:
                known = exc
            self._seen[key] = known
        else:
            self._hits += 1
        if isinstance(known, InvalidTask):
            raise known
        return {**known, "payload": {} if payload is None else payload}


#: Values a flat spec's key holds as they are (floats go through JSON: ``-0.0 == 0.0``).
FLAT = frozenset({str, int, bool, type(None)})


def _key(spec: Mapping[str, Any]) -> Hashable:
    """What tells ``spec`` apart from other specs: its fields with their types (``True == 1``), or,
    with nested values, its canonical JSON."""
    if all(type(value) in FLAT for value in spec.values()):
        return tuple(sorted((name, type(value), value) for name, value in spec.items()))
    return json.dumps(spec, sort_keys=True)
