"""Fairness across tenants: Deficit Round Robin, and the tenant weights it reads.

Each visit adds ``quantum × weight`` to a tenant's deficit; the tenant may take
that many tasks (every task costs 1). A tenant whose queue ran dry loses its
deficit, as in DRR, so idle tenants cannot bank credit. The ring position carries
over between claims, so a noisy tenant cannot starve a quiet one by more than
about one round.
"""

import threading
import time
from collections.abc import Callable, Iterable

from tenants.models import Tenant

from .conf import conf


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


class DeficitRoundRobin:
    def __init__(self, *, quantum: int, weight_of: Callable[[int], int]) -> None:
        self.quantum = quantum
        self.weight_of = weight_of
        self.ring: list[int] = []
        self.deficit: dict[int, int] = {}
        self.cursor = 0

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

    def plan(self, ready: list[int], slots: int) -> dict[int, int]:
        """How many tasks to ask of each ready tenant to fill ``slots``."""
        self._sync(ready)
        asks: dict[int, int] = {}
        if not self.ring or slots <= 0:
            return asks
        remaining = slots
        while remaining > 0:
            tenant = self.ring[self.cursor]
            # Spend credit left from the last claim before earning more.
            if self.deficit[tenant] <= 0:
                self.deficit[tenant] += self.quantum * max(1, self.weight_of(tenant))
            take = min(self.deficit[tenant], remaining)
            asks[tenant] = asks.get(tenant, 0) + take
            self.deficit[tenant] -= take
            remaining -= take
            if self.deficit[tenant] <= 0:
                self.cursor = (self.cursor + 1) % len(self.ring)
        return asks

    def settle(self, asks: dict[int, int], got: dict[int, int]) -> None:
        """Record what each tenant actually had: a tenant that ran dry leaves the ring."""
        for tenant, asked in asks.items():
            if got.get(tenant, 0) < asked and tenant in self.deficit:
                self._leave(tenant)
        self._wrap()
