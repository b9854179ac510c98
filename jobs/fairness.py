"""Deficit Round Robin over tenants with ready work.

Each visit adds ``quantum × weight`` to a tenant's deficit; the tenant may take
that many tasks (every task costs 1). A tenant whose queue ran dry loses its
deficit, as in DRR, so idle tenants cannot bank credit. The ring position carries
over between claims, so a noisy tenant cannot starve a quiet one by more than
about one round.
"""

from collections.abc import Callable


class DeficitRoundRobin:
    def __init__(self, *, quantum: int, weight_of: Callable[[int], int]) -> None:
        self.quantum = quantum
        self.weight_of = weight_of
        self.ring: list[int] = []
        self.deficit: dict[int, int] = {}
        self.cursor = 0

    def _sync(self, ready: list[int]) -> None:
        ready_set = set(ready)
        for tenant in list(self.ring):
            if tenant not in ready_set:
                index = self.ring.index(tenant)
                self.ring.pop(index)
                self.deficit.pop(tenant, None)
                if index < self.cursor:
                    self.cursor -= 1
        for tenant in ready:
            if tenant not in self.deficit:
                self.ring.append(tenant)
                self.deficit[tenant] = 0
        if self.cursor >= len(self.ring):
            self.cursor = 0

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
                self.deficit[tenant] = 0
                index = self.ring.index(tenant)
                self.ring.pop(index)
                del self.deficit[tenant]
                if index < self.cursor:
                    self.cursor -= 1
                if self.cursor >= len(self.ring):
                    self.cursor = 0
