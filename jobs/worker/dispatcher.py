"""Claim ready tasks for free executor slots, fairly across tenants, and hand them over."""

import time
from collections.abc import Callable
from datetime import timedelta

from .. import clock
from ..conf import conf
from ..fairness import CostTable, DeficitRoundRobin, TenantCache
from ..models import Task
from ..services import maintenance
from ..store import pauses, transitions
from .completer import Completer
from .pool import ExecutorPool
from .service import Service

#: Seconds a tenant found at its concurrency cap is left out of claims. Its slot may come free
#: on another instance, which cannot tell this one; the pause bounds the rechecks (a row lock
#: and a count each) to a few per second per process, and keeps the rest of the slots for others.
CAP_RECHECK_SECONDS = 0.2


class Dispatcher(Service):
    def __init__(
        self,
        *,
        worker_id: str,
        pool: ExecutorPool,
        completer: Completer,
        tenants: TenantCache,
        queues: list[str] | None,
        burst: bool,
        on_drained: Callable[[], None],
        costs: CostTable | None = None,
        on_first_round: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__("dispatcher")
        c = conf()
        self.worker_id = worker_id
        self.pool = pool
        self.completer = completer
        self.queues = queues
        self.lease_seconds = c.LEASE_SECONDS
        self.poll_seconds = c.POLL_SECONDS
        self.ready_cache_seconds = c.READY_CACHE_SECONDS
        self.burst = burst
        self.on_drained = on_drained  # burst mode: nothing left to run
        #: Told once, after the first step (its claim done or failed), how many tasks it claimed.
        self.on_first_round = on_first_round
        self.tenants = tenants
        # With a cost table (the runtime's, fed as runs finish) shares are of worker time, not of tasks.
        self.drr = DeficitRoundRobin(quantum=c.DRR_QUANTUM, weight_of=tenants.weight, costs=costs)
        #: Tenants found at their cap, and until when (monotonic) they are left out.
        self.at_cap: dict[int, float] = {}
        self.found_at_cap = False
        #: The last claim held rows back at a gate (blocked or throttled them): look again at once.
        self.found_gated = False
        self.claimed = 0
        # Fast tasks free slots one by one; wait for a few before a claim round-trip.
        self.min_batch = max(1, pool.threads // 4)
        #: Tenants with ready work, re-read when stale (saves a query per claim at full speed).
        self.ready: list[int] = []
        self.ready_at = 0.0
        self.stale_ready = True

    def notify_work(self) -> None:
        """New work arrived: it may belong to a tenant not in the cached list."""
        self.stale_ready = True
        self.notify()

    def step(self) -> float:
        if self.on_first_round is None:
            return self.dispatch()
        try:
            return self.dispatch()
        finally:
            told, self.on_first_round = self.on_first_round, None
            told(self.claimed)

    def dispatch(self) -> float:
        # A slot coming free (the pool) or new work (wake-ups, the promoter) cuts the wait short.
        free = self.pool.free_slots()
        if free <= 0:
            return self.poll_seconds
        if free < self.min_batch and self.pool.busy():
            time.sleep(0.002)
            free = self.pool.free_slots()
        if self.claim(free) or self.found_at_cap or self.found_gated:
            # Look again at once: slots may still be free, and a full claim means more is ready;
            # a tenant just found at its cap leaves its share to the others (each time one fewer);
            # rows just held at a gate have left the ready set, so the next ones are new.
            return 0.0
        if self.burst and self._burst_finished():
            self.stop()
            self.on_drained()
        return self.poll_seconds

    def claim(self, free: int) -> int:
        """Claim up to ``free`` tasks, fairly across the tenants with ready work; return how many."""
        if self.stale_ready or not self.ready or time.monotonic() - self.ready_at > self.ready_cache_seconds:
            self.stale_ready = False
            self.ready = Task.objects.ready_tenant_ids(self.queues)
            self.ready_at = time.monotonic()
        self.found_at_cap = self.found_gated = False
        now = time.monotonic()
        self.at_cap = {t: until for t, until in self.at_cap.items() if until > now}
        paused = pauses.current().tenant_ids
        ready = [t for t in self.ready if t not in self.at_cap and t not in paused]
        if not ready:
            return 0
        asks = self.drr.plan(ready, free)
        at_cap: set[int] = set()
        held: list[int] = []
        tasks = transitions.claim(
            worker=self.worker_id, asks=asks, queues=self.queues, lease_seconds=self.lease_seconds,
            capped=self.tenants.capped(asks), at_cap=at_cap, held=held,
        )
        self.found_gated = bool(held)
        self.at_cap.update(dict.fromkeys(at_cap, now + CAP_RECHECK_SECONDS))
        self.found_at_cap = bool(at_cap)
        got: dict[int, int] = {}
        for task in tasks:
            got[task.tenant_id] = got.get(task.tenant_id, 0) + 1
            self.pool.submit(task)
        self.drr.settle(asks, got, tasks)
        self.claimed += len(tasks)
        if any(got.get(t, 0) < n for t, n in asks.items()):
            self.stale_ready = True  # a tenant ran dry: the list has changed
        return len(tasks)

    def _burst_finished(self) -> bool:
        if self.pool.busy() or self.completer.unwritten_runs():
            return False
        if maintenance.promote_due():
            return False
        paused = pauses.current().tenant_ids
        if any(t not in paused for t in Task.objects.ready_tenant_ids(self.queues)):
            return False  # a paused tenant's pending work is not this run's to finish
        # A retry due within a poll interval still counts as work to finish.
        return not Task.objects.due(clock.now() + timedelta(seconds=self.poll_seconds)).exists()
