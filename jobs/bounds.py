"""What a caller may ask for: the engine's bounds, each type's own, and what a tenant was given.

Trusted callers (Python's ``enqueue()``, the CLI) get the engine's bounds. An API caller also
meets its type's (``@task(min_timeout=…, max_timeout=…, max_retries_cap=…)``) and may submit only
the types and queues its tenant was given (an :class:`Allowance`): a tenant must not be able to
hold workers for a week, retry without end, or run a handler written for another customer.
"""

from typing import Any

from tenants.models import Tenant

from .conf import conf
from .exceptions import InvalidTask, UnknownTaskType
from .models import TypeGrant
from .registry import TaskType, registry

#: The engine's bounds on what any caller may set (the serializers and the schema repeat none of them).
MAX_RETRIES = 100
MAX_LOST = 100
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600
#: How far ahead a task may be scheduled (``delay_seconds``, ``run_at``): a year-9999 row never runs nor prunes.
MAX_DELAY_SECONDS = 366 * 86400


def default_timeout(task_type: TaskType) -> int:
    """The timeout of a task that asks for none."""
    return task_type.timeout or conf().DEFAULT_TIMEOUT


def timeout_range(task_type: TaskType, *, public: bool) -> tuple[int, int]:
    """The ``timeout_seconds`` a caller may ask for: an API caller may shorten the type's, not lengthen it
    (unless the type opts in with a larger ``max_timeout``)."""
    if not public:
        return 1, MAX_TIMEOUT_SECONDS
    high = task_type.max_timeout if task_type.max_timeout is not None else default_timeout(task_type)
    return task_type.min_timeout, min(high, MAX_TIMEOUT_SECONDS)


def retries_cap(task_type: TaskType, *, public: bool) -> int:
    """The most ``max_retries`` a caller may ask for (each retry is a run the tenant is not charged for)."""
    if not public:
        return MAX_RETRIES
    cap = task_type.max_retries_cap if task_type.max_retries_cap is not None else conf().MAX_RETRIES_CAP
    return min(cap, MAX_RETRIES)


def payload_limit(task_type: TaskType) -> int:
    """Largest payload of the type, bytes of JSON."""
    return task_type.max_payload_bytes if task_type.max_payload_bytes is not None else conf().MAX_PAYLOAD_BYTES


def result_limit(task_type: TaskType | None) -> int:
    """Largest result a run of the type may store, bytes of JSON (never more than one UPDATE may carry)."""
    c = conf()
    own = task_type.max_result_bytes if task_type is not None else None
    return min(own if own is not None else c.MAX_RESULT_BYTES, c.MAX_WRITE_BYTES)


def granted(tenant: Tenant) -> list[str]:
    """The listed types ``tenant`` was granted (one query), by name."""
    # No ORDER BY: the model's ("type", "tenant") would join the tenant table to sort by its ordering.
    return sorted(TypeGrant.objects.filter(tenant_id=tenant.pk).order_by().values_list("type", flat=True))


def allowed_queues(tenant: Tenant) -> list[str]:
    """The queues ``tenant`` may name: its ``allowed_queues``, else its own (its slug) and the default."""
    if isinstance(tenant.allowed_queues, list) and tenant.allowed_queues:
        return [str(q) for q in tenant.allowed_queues]
    return list(dict.fromkeys([tenant.slug, conf().DEFAULT_QUEUE]))


#: The name of the grants in a verified key's ``memo`` (``tenants.keys``).
GRANTS_MEMO = "jobs.grants"


class Allowance:
    """What one tenant may submit over the API; read at most once per request or batch (not per task),
    and only what is needed: an open type named without a queue costs no query.

    ``memo``: a verified key's (``tenants.keys.VerifiedKey.memo``), where the grants read are kept
    for as long as the verification is (``API_KEY_CACHE_SECONDS``; a grant or revoke drops every
    verification of this process, ``jobs.services.grants``). A tenant row loaded with its
    ``allowed_queues`` (the API's comes with the key) costs no query for the queues either.
    """

    __slots__ = ("_granted", "_memo", "_queues", "tenant")

    def __init__(self, tenant: Tenant, *, memo: dict[str, Any] | None = None) -> None:
        self.tenant = tenant
        self._memo = memo
        self._granted: frozenset[str] | None = None
        self._queues: tuple[str, ...] | None = None

    @property
    def granted(self) -> frozenset[str]:
        if self._granted is None:
            known = self._memo.get(GRANTS_MEMO) if self._memo is not None else None
            if known is None:
                known = frozenset(granted(self.tenant))
                if self._memo is not None:
                    self._memo[GRANTS_MEMO] = known
            self._granted = known
        return self._granted

    @property
    def queues(self) -> tuple[str, ...]:
        if self._queues is None:
            self._queues = tuple(allowed_queues(self.tenant))
        return self._queues

    def may_submit(self, task_type: TaskType) -> bool:
        if task_type.internal:
            return False
        return task_type.access == "all" or task_type.name in self.granted

    def types(self) -> list[str]:
        """The types this tenant may submit: the open ones and its granted listed ones (never internal ones)."""
        return [t.name for t in registry.types() if self.may_submit(t)]

    def task_type(self, name: str) -> TaskType:
        """The type ``name`` if this tenant may submit it; else an error listing only the types it may."""
        found = registry.find(name)
        if found is None or not self.may_submit(found):
            # Unknown and forbidden read alike: the answer reveals no other tenant's types.
            known = ", ".join(self.types()) or "(none)"
            raise UnknownTaskType("type", f"unknown task type {name!r}; your types: {known}")
        return found

    def check_queue(self, queue: str, task_type: TaskType) -> None:
        """A queue the caller named must be one of the tenant's (or its type's own default queue)."""
        if queue in self.queues or queue == task_type.queue:
            return
        raise InvalidTask("queue", f"{queue!r} is not one of this tenant's queues: {', '.join(self.queues)}")
