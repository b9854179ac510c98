"""What holds work back now (the console's Limits page): tenant caps, concurrency keys, resources.

Read-only, and bounded whatever the backlog, since the page is live (re-rendered every second
or two over the SSE stream):

* caps: one grouped count of the running tasks (``task_claim_idx``: status, tenant), and for
  the tenants at their cap only, their pending tasks counted in a ``LIMIT`` subquery;
* keys: the running keyed tasks (a range of ``task_gate_idx``: status, tenant, key; running
  tasks are at most the workers' slots) and the distinct keys of the blocked range of the same
  index, at most ``KEYS`` of them; each shown key's blocked tasks counted in a ``LIMIT`` subquery;
* resources: ``resources.overview()``, and their throttled tasks from the oldest ``SAMPLE``
  scheduled tasks by ``run_at`` (``task_due_idx``): a throttled task's ``run_at`` is its token's
  time, within one window, so it comes before the scheduled work of later hours.

A count past its bound is shown as "at least" (``BOUND``). Statuses are written as ``IN (…)``
so the console's guard (no COUNT over the whole task table) recognises the live ranges.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import QuerySet

from tenants.models import Tenant

from .. import clock
from ..lifecycle import Status
from ..models import Task
from . import resources as resources_service

#: The most keys shown (the busiest first) and tenants listed.
KEYS = 200
TENANTS = 500
#: Waiting and blocked counts stop here (shown as "≥").
BOUND = 10_000
#: Scheduled tasks read for the throttled counts.
SAMPLE = 10_000
#: Holders listed per key (the count is exact).
HOLDERS = 10
#: Running keyed tasks read: more than any fleet's slots, so in practice all of them.
RUNNING_READ = 5_000


@dataclass(frozen=True, slots=True)
class Cap:
    tenant_id: int
    slug: str
    cap: int
    running: int
    #: Pending tasks held by the cap (0 when it is not reached); at most ``BOUND``.
    waiting: int

    @property
    def at_cap(self) -> bool:
        return self.running >= self.cap

    @property
    def room(self) -> int:
        return max(0, self.cap - self.running)

    @property
    def waiting_bounded(self) -> bool:
        return self.waiting >= BOUND


@dataclass(frozen=True, slots=True)
class Holder:
    task_id: int
    worker: str | None
    started_at: datetime | None


@dataclass(slots=True)
class Key:
    tenant_id: int
    slug: str
    key: str
    limit: int = 0
    running: int = 0
    holders: list[Holder] = field(default_factory=list)
    blocked: int = 0

    @property
    def blocked_bounded(self) -> bool:
        return self.blocked >= BOUND


@dataclass(frozen=True, slots=True)
class Throttle:
    state: resources_service.ResourceState
    #: Tasks waiting for a token of this resource (in the sample read; ≥ when ``sampled``).
    waiting: int


@dataclass(frozen=True, slots=True)
class Limits:
    caps: list[Cap]
    caps_cut: bool
    keys: list[Key]
    #: More keys are in use than ``KEYS``: the table shows the busiest.
    keys_cut: bool
    resources: list[Throttle]
    #: The scheduled tasks outnumber ``SAMPLE``: the throttled counts are lower bounds.
    sampled: bool
    now: datetime
    bound: int = BOUND
    keys_shown: int = KEYS


def _bounded(qs: "QuerySet[Task]") -> int:
    # ``qs[:BOUND].count()`` is ``COUNT(*)`` over a ``LIMIT`` subquery: it stops at the bound.
    return qs[:BOUND].count()


def caps() -> tuple[list[Cap], bool]:
    tenants = list(Tenant.objects.filter(max_running__isnull=False).order_by("slug")
                   .values_list("pk", "slug", "max_running")[:TENANTS + 1])
    cut = len(tenants) > TENANTS
    tenants = tenants[:TENANTS]
    running = dict(Task.objects.running_by_tenant([pk for pk, _, _ in tenants]))
    out = []
    for pk, slug, max_running in tenants:
        cap = max_running or 0  # never None: the filter above
        n = running.get(pk, 0)
        # Below its cap a tenant's pending tasks wait for a worker, not for the cap: not counted.
        waiting = _bounded(Task.objects.filter(status__in=[Status.PENDING], tenant_id=pk)) if n >= cap else 0
        out.append(Cap(pk, slug, cap, n, waiting))
    return out, cut


def keys() -> tuple[list[Key], bool]:
    found: dict[tuple[int, str], Key] = {}

    def entry(tenant_id: int, key: str) -> Key:
        if (tenant_id, key) not in found:
            found[(tenant_id, key)] = Key(tenant_id, "", key)
        return found[(tenant_id, key)]

    # Only the index's own columns (and the primary key it holds): task_gate_idx alone answers it.
    running = (Task.objects.filter(status__in=[Status.RUNNING], concurrency_key__isnull=False)
               .order_by().values_list("pk", "tenant_id", "concurrency_key")[:RUNNING_READ])
    listed: dict[int, Key] = {}
    for pk, tenant_id, key in running:
        k = entry(tenant_id, key or "")  # never None: the filter above
        k.running += 1
        if k.running <= HOLDERS:
            listed[pk] = k
    # The listed holders' rows, by primary key: their workers, start times and the key's limit.
    for pk, limit, worker, started_at in (Task.objects.filter(pk__in=list(listed)).order_by("pk")
                                          .values_list("pk", "concurrency_limit", "worker", "started_at")):
        k = listed[pk]
        k.limit = max(k.limit, limit)
        k.holders.append(Holder(pk, worker, started_at))
    # The blocked range's distinct (tenant, key), in index order: the index alone answers it.
    blocked_pairs = list(Task.objects.filter(status__in=[Status.BLOCKED], concurrency_key__isnull=False)
                         .order_by().values_list("tenant_id", "concurrency_key").distinct()[:KEYS + 1])
    cut = len(blocked_pairs) > KEYS
    for tenant_id, key in blocked_pairs[:KEYS]:
        entry(tenant_id, key or "")
    # Blocked counts only for the keys that may be shown: the held ones (few: one per busy slot)
    # and the blocked ones read above.
    for (tenant_id, key), k in found.items():
        blocked = Task.objects.filter(status__in=[Status.BLOCKED], tenant_id=tenant_id, concurrency_key=key,
                                      blocked_on="key")
        k.blocked = _bounded(blocked)
        if k.blocked:
            # The limit of the key's oldest blocked task, read in task_gate_idx's own order (the key's
            # entries follow the primary key). A hand-on applies the first by priority's; the tasks of
            # a key share their limit but for a change of it, so the two differ only until it drains.
            head = blocked.order_by("id").values_list("concurrency_limit", flat=True).first()
            k.limit = head or k.limit
    shown = [k for k in found.values() if k.running or k.blocked]
    shown.sort(key=lambda k: (-(k.running + k.blocked), k.tenant_id, k.key))
    cut = cut or len(shown) > KEYS
    shown = shown[:KEYS]
    slugs = dict(Tenant.objects.filter(pk__in={k.tenant_id for k in shown}).values_list("pk", "slug"))
    for k in shown:
        k.slug = slugs.get(k.tenant_id, str(k.tenant_id))
    # Busiest first, then by tenant and key: ties keep their places between refreshes.
    return shown, cut


def throttled() -> tuple[list[Throttle], bool]:
    states = resources_service.overview()
    if not states:
        return [], False
    rows = list(Task.objects.filter(status__in=[Status.SCHEDULED]).order_by("run_at")
                .values_list("blocked_on", "resource")[:SAMPLE])
    counts = Counter(r for b, r in rows if b == "resource")
    return [Throttle(s, counts.get(s.resource.name, 0)) for s in states], len(rows) >= SAMPLE


def overview() -> Limits:
    """The three tables, as of now."""
    clock.refresh()
    cap_rows, caps_cut = caps()
    key_rows, keys_cut = keys()
    throttles, sampled = throttled()
    return Limits(cap_rows, caps_cut, key_rows, keys_cut, throttles, sampled, clock.now())
