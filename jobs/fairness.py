"""Fairness across tenants: Deficit Round Robin charged by worker time, and the tenant weights it reads.

Deficits are worker time (integer microseconds, so equal costs add up exactly). Each visit adds
``quantum × weight × unit`` to a tenant's deficit, ``unit`` being a typical task's cost (the
median of the ring's expected costs); a tenant whose deficit is positive takes tasks until its
expected cost has used it up (at least one: a tenant with only long tasks is never starved, it
goes into debt and sits out the visits that pay it off — Surplus Round Robin, since the claim
cannot see the next task's cost before taking it). When every type costs the same this is
plain DRR with one unit per task: ``quantum × weight`` tasks per visit.

A claim reserves its tenants' expected costs; ``settle`` replaces them with the claimed tasks'
per-type estimates (``CostTable``); when a run finishes its real time replaces the estimate
(the true-up), so a wrong estimate costs a short-term error, never a lasting share. A tenant
whose types are all unknown gets one task per plan (a probe). At equal weight a tenant of 1 s
tasks and one of 10 ms tasks get equal worker time.

Kept from DRR: a tenant whose queue ran dry loses its deficit (credit or debt), so idle
tenants cannot bank credit; the ring position carries over between claims, so a noisy tenant
cannot starve a quiet one by more than about one round.
"""

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Protocol

from tenants.models import Tenant

from .conf import conf

MICROS = 1_000_000
#: A run of a task: (task id, claim token), as the executor pool keys it.
RunKey = tuple[int, int]
class TenantCache:
    """Weights, slugs and caps of tenants, refreshed every few seconds (they rarely change).

    A cap read here only decides whether a claim locks the tenant's row; the claim re-reads
    the cap under that lock, so a changed cap is exact at once and a new one within the TTL.
    """

    def __init__(self) -> None:
        self.weights: dict[int, int] = {}
        self.slugs: dict[int, str] = {}
        self.caps: dict[int, int | None] = {}
        self.loaded = 0.0
        self.ttl = conf().TENANT_CACHE_SECONDS
        self.lock = threading.Lock()

    def _refresh(self, tenant_id: int) -> None:
        with self.lock:
            if tenant_id in self.weights and time.monotonic() - self.loaded < self.ttl:
                return
            for pk, slug, weight, cap in Tenant.objects.values_list("pk", "slug", "weight", "max_running"):
                self.weights[pk] = weight
                self.slugs[pk] = slug
                self.caps[pk] = cap
            self.loaded = time.monotonic()

    def weight(self, tenant_id: int) -> int:
        self._refresh(tenant_id)
        return self.weights.get(tenant_id, 1)

    def capped(self, tenant_ids: Iterable[int]) -> set[int]:
        """Which of ``tenant_ids`` have a concurrency cap (``Tenant.max_running``)."""
        found = set()
        for tenant_id in tenant_ids:
            self._refresh(tenant_id)
            if self.caps.get(tenant_id) is not None:
                found.add(tenant_id)
        return found

    def slug(self, tenant_id: int) -> str:
        return self.slugs.get(tenant_id) or str(tenant_id)


class CostTable:
    """Execution-time moving averages per task type, in this process (integer microseconds).

    Fed by the executors as runs finish (``observe``: a dict update under a lock, no database
    statement); read by the dispatcher. A type never seen costs the median of the known types
    or ``DRR_UNKNOWN_COST_SECONDS``, whichever is more: assuming a new type slow keeps the
    dispatcher from claiming a pile of it while nothing says it is fast, and the true-up refunds
    the difference once its runs finish. Every cost is at least the floor
    (``DRR_COST_FLOOR_SECONDS``): a no-op still takes a claim, a slot hand-over and a write.
    """

    alpha = 0.2  # weight of the newest run in a type's average: a few dozen runs make an estimate
    max_done = 100_000  # finished runs kept for the true-up if the dispatcher falls behind

    def __init__(self, *, floor_seconds: float | None = None, unknown_seconds: float | None = None) -> None:
        c = conf()
        floor = c.DRR_COST_FLOOR_SECONDS if floor_seconds is None else floor_seconds
        unknown = c.DRR_UNKNOWN_COST_SECONDS if unknown_seconds is None else unknown_seconds
        self.floor = max(1, round(floor * MICROS))
        self.unknown = max(self.floor, round(unknown * MICROS))
        self.average: dict[str, float] = {}
        self.lock = threading.Lock()
        self._prior: int | None = None
        #: Finished runs and what they really cost, for ``DeficitRoundRobin``'s true-up.
        self.done: deque[tuple[RunKey, int]] = deque(maxlen=self.max_done)

    def observe(self, task_type: str, seconds: float, run: RunKey | None = None) -> None:
        """A run of ``task_type`` took ``seconds`` on its executor."""
        micros = max(self.floor, round(seconds * MICROS))
        with self.lock:
            old = self.average.get(task_type)
            self.average[task_type] = micros if old is None else old + (micros - old) * self.alpha
            self._prior = None
        if run is not None:
            self.done.append((run, micros))

    def cost(self, task_type: str) -> int:
        """Expected cost of one task of ``task_type``, µs."""
        average = self.average.get(task_type)
        return self.prior() if average is None else max(self.floor, round(average))

    def known(self, task_type: str) -> bool:
        return task_type in self.average  # a dict lookup: atomic under the GIL

    def prior(self) -> int:
        """What a type never seen is assumed to cost, µs."""
        with self.lock:
            if self._prior is None:
                known = sorted(self.average.values())
                median = round(known[(len(known) - 1) // 2]) if known else 0
                self._prior = max(self.unknown, median)
            return self._prior


class Claimed(Protocol):
    """What ``settle`` reads of a claimed task (``jobs.models.Task`` has it)."""

    pk: int
    run: int
    tenant_id: int
    type: str


class DeficitRoundRobin:
    """DRR over tenants: ``plan`` how many tasks to ask of each, ``settle`` what was claimed.
    Without a ``CostTable`` every task costs 1 (the deficit counts tasks)."""

    #: Charges of claimed runs awaiting their true-up; a run that never reports (handed back at
    #: a drain) would stay, so the oldest go past this many.
    max_charges = 100_000

    def __init__(self, *, quantum: int, weight_of: Callable[[int], int], costs: CostTable | None = None) -> None:
        self.quantum = quantum
        self.weight_of = weight_of
        self.costs = costs
        self.ring: list[int] = []
        self.deficit: dict[int, int] = {}
        self.cursor = 0
        #: Moving average of the estimated cost of each tenant's claimed tasks, µs (not credit:
        #: kept when the tenant leaves the ring).
        self.expected: dict[int, float] = {}
        self.probed: set[int] = set()  # tenants that had their first probe
        #: What the last plan reserved per tenant (tasks × expected cost), given back by ``settle``.
        self.reserved: dict[int, int] = {}
        #: Run → (tenant, estimate charged), until its real time is known.
        self.charges: dict[RunKey, tuple[int, int]] = {}

    def _leave(self, tenant: int) -> None:
        """Take ``tenant`` out of the ring, keeping the cursor on the tenant whose turn it is."""
        index = self.ring.index(tenant)
        self.ring.pop(index)
        del self.deficit[tenant]
        if index < self.cursor:
            self.cursor -= 1

    def _wrap(self) -> None:
        # Past the end (the last tenant left, or the ring shrank): the turn goes round to the start.
        if self.cursor >= len(self.ring):
            self.cursor = 0

    def _sync(self, ready: list[int]) -> None:
        ready_set = set(ready)
        for tenant in [t for t in self.ring if t not in ready_set]:
            self._leave(tenant)
        for tenant in ready:
            if tenant not in self.deficit:
                self.ring.append(tenant)
                self.deficit[tenant] = 0
        self._wrap()

    def _expected(self, tenant: int) -> int:
        if self.costs is None:
            return 1
        expected = self.expected.get(tenant)
        return self.costs.prior() if expected is None else max(1, round(expected))

    def _true_up(self) -> None:
        """Charge finished runs their real time in place of the estimate their claim was charged."""
        if self.costs is None:
            return
        done = self.costs.done
        while done:
            run, actual = done.popleft()
            charge = self.charges.pop(run, None)
            if charge is not None and charge[0] in self.deficit:  # else it left: its debt went with it
                self.deficit[charge[0]] -= actual - charge[1]

    def _advance(self) -> None:
        self.cursor = (self.cursor + 1) % len(self.ring)

    def plan(self, ready: list[int], slots: int) -> dict[int, int]:
        """How many tasks to ask of each ready tenant to fill ``slots``."""
        self._true_up()
        self._sync(ready)
        asks: dict[int, int] = {}
        self.reserved = {}
        if not self.ring or slots <= 0:
            return asks
        expected = {t: self._expected(t) for t in self.ring}
        # A tenant none of whose claimed types has a known cost yet may hold hours of work: it is
        # asked for one task per plan (a probe, at the pessimistic prior) until one of its types is
        # known, rather than a pile sized by a guess.
        probing = {t for t in self.ring if self.costs is not None and t not in self.expected}
        known = sorted(e for t, e in expected.items() if t not in probing) or sorted(expected.values())
        unit = known[(len(known) - 1) // 2]
        earn = {t: self.quantum * max(1, self.weight_of(t)) * unit for t in self.ring}
        for t in self.ring:  # credit stays within a quantum, as in DRR: refunds (runs quicker than
            # estimated) arrive between visits and a lone tenant's debt is skipped past, never its
            # credit; unbounded, a noisy tenant banked 30 tasks' worth a newcomer had to wait out.
            self.deficit[t] = min(self.deficit[t], earn[t])
        remaining, passed = slots, 0
        while remaining > 0:
            tenant = self.ring[self.cursor]
            eligible = [t for t in self.ring if t not in probing or t not in asks]
            if not eligible:
                break  # only probes left: the claim comes back short and the dispatcher plans again
            if tenant not in eligible:
                self._advance()  # its probe taken: the turn passes (its credit stays for the next plan)
                continue
            # A first probe is charged, not paid for: the unit its quantum would be in is not known
            # yet. At settle it owes its one task; its turn goes on, earning as usual. While no
            # tenant's costs are known every probe is: a quantum in the prior's unit (1 s) would
            # bank a thousand no-ops' worth of credit per visit.
            first_probe = tenant in probing and (tenant not in self.probed or len(probing) == len(self.ring))
            if first_probe:
                self.probed.add(tenant)
            else:
                # Spend credit left from the last claim before earning more.
                if self.deficit[tenant] <= 0:
                    self.deficit[tenant] += earn[tenant]
                if self.deficit[tenant] <= 0:
                    # Still paying off a long task: its turn passes.
                    self._advance()
                    passed += 1
                    if passed >= len(eligible):
                        self._skip_idle_rounds(earn, eligible)
                        passed = 0
                    continue
            passed = 0
            cost = expected[tenant]
            # Serve while the deficit is positive (a probe: one task).
            take = 1 if tenant in probing else min(-(-self.deficit[tenant] // cost), remaining)
            asks[tenant] = asks.get(tenant, 0) + take
            self.reserved[tenant] = self.reserved.get(tenant, 0) + take * cost
            self.deficit[tenant] -= take * cost
            remaining -= take
            if self.deficit[tenant] <= 0 and not first_probe:
                self._advance()
        return asks

    def _skip_idle_rounds(self, earn: dict[int, int], eligible: list[int]) -> None:
        """A whole round took nothing (everyone in debt): add the rounds that would take nothing
        either at once, so that 1 h tasks beside 1 ms ones cost a few steps, not millions."""
        rounds = min(-self.deficit[t] // earn[t] for t in eligible)  # ≥ 0: every deficit is ≤ 0
        for t in eligible:
            self.deficit[t] += rounds * earn[t]

    def settle(self, asks: dict[int, int], got: dict[int, int], claimed: Iterable[Claimed] | None = None) -> None:
        """Record what each tenant actually had: a tenant that ran dry leaves the ring.

        With ``claimed`` (and a cost table), each tenant is charged its claimed tasks' estimated
        costs in place of what the plan reserved, and each run's estimate is kept for its true-up.
        """
        if self.costs is not None and claimed is not None:
            charged: dict[int, int] = {}
            for task in claimed:
                cost = self.costs.cost(task.type)
                tenant = task.tenant_id
                charged[tenant] = charged.get(tenant, 0) + cost
                if self.costs.known(task.type):  # a guess would make a probing tenant look known
                    old = self.expected.get(tenant)
                    self.expected[tenant] = cost if old is None else old + (cost - old) * CostTable.alpha
                self.charges[(task.pk, task.run)] = (tenant, cost)
            for tenant in set(self.reserved) | set(charged):
                if tenant in self.deficit:
                    self.deficit[tenant] += self.reserved.get(tenant, 0) - charged.get(tenant, 0)
            while len(self.charges) > self.max_charges:
                del self.charges[next(iter(self.charges))]
        self.reserved = {}
        for tenant, asked in asks.items():
            if got.get(tenant, 0) < asked and tenant in self.deficit:
                self._leave(tenant)
        self._wrap()
