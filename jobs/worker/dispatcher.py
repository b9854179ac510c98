"""Claim ready tasks for free executor slots, fairly across tenants, and hand them over."""

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from django.db import connection
from django.db.utils import DatabaseError
from django.utils import timezone

from tenants.models import Tenant

from ..fairness import DeficitRoundRobin
from ..lifecycle import Status
from ..models import Task
from ..services import maintenance
from ..store import transitions
from .pool import ExecutorPool

logger = logging.getLogger(__name__)

#: The longest a cached list of tenants with ready work is trusted, seconds.
READY_CACHE_SECONDS = 0.5
#: How long tenant weights and slugs are cached, seconds.
TENANT_CACHE_SECONDS = 10.0


class TenantCache:
    """Weights and slugs of tenants, refreshed every few seconds (they rarely change)."""

    def __init__(self) -> None:
        self.weights: dict[int, int] = {}
        self.slugs: dict[int, str] = {}
        self.loaded = 0.0
        self.lock = threading.Lock()

    def _refresh(self, tenant_id: int) -> None:
        with self.lock:
            if tenant_id in self.weights and time.monotonic() - self.loaded < TENANT_CACHE_SECONDS:
                return
            for pk, slug, weight in Tenant.objects.values_list("pk", "slug", "weight"):
                self.weights[pk] = weight
                self.slugs[pk] = slug
            self.loaded = time.monotonic()

    def weight(self, tenant_id: int) -> int:
        self._refresh(tenant_id)
        return self.weights.get(tenant_id, 1)

    def slug(self, tenant_id: int) -> str:
        return self.slugs.get(tenant_id) or str(tenant_id)


class Dispatcher(threading.Thread):
    def __init__(
        self,
        *,
        worker_id: str,
        pool: ExecutorPool,
        queues: list[str] | None,
        quantum: int,
        lease_seconds: float,
        poll_seconds: float,
        burst: bool,
        tenants: TenantCache,
        unwritten: Callable[[], list[int]],
        stop: threading.Event,
    ) -> None:
        super().__init__(name="dispatcher", daemon=True)
        self.worker_id = worker_id
        self.pool = pool
        self.queues = queues
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.burst = burst
        self.unwritten = unwritten
        self.stop_event = stop
        self.wake = threading.Event()
        self.done = threading.Event()  # burst mode: nothing left to run
        self.drr = DeficitRoundRobin(quantum=quantum, weight_of=tenants.weight)
        self.claimed = 0
        # Fast tasks free slots one by one; wait for a few before a claim round-trip.
        self.min_batch = max(1, pool.threads // 4)
        #: Tenants with ready work, re-read when stale (saves a query per claim at full speed).
        self.ready: list[int] = []
        self.ready_at = 0.0
        self.stale_ready = True

    def notify(self) -> None:
        """A slot came free (or shutdown began): look again."""
        self.wake.set()

    def notify_work(self) -> None:
        """New work arrived: it may belong to a tenant not in the cached list."""
        self.stale_ready = True
        self.wake.set()

    def run(self) -> None:
        try:
            self._loop()
        finally:
            connection.close()

    def _loop(self) -> None:
        while not self.stop_event.is_set():
            self.wake.clear()
            free = self.pool.free_slots()
            if free <= 0:
                self.wake.wait(self.poll_seconds)
                continue
            if free < self.min_batch and self.pool.busy():
                self.stop_event.wait(0.002)
                free = self.pool.free_slots()
            try:
                claimed, again = self.claim(free)
            except DatabaseError as exc:
                logger.warning("dispatcher: database error: %s", exc)
                connection.close()
                self.stop_event.wait(1.0)
                continue
            if again:
                continue  # every tenant asked had more: claim again at once
            if not claimed and self.burst and self._burst_finished():
                self.done.set()
                return
            if not claimed:
                self.wake.wait(self.poll_seconds)

    def claim(self, free: int) -> tuple[int, bool]:
        """Claim up to ``free`` tasks; return how many, and whether more are likely ready."""
        if self.stale_ready or not self.ready or time.monotonic() - self.ready_at > READY_CACHE_SECONDS:
            self.stale_ready = False
            self.ready = Task.objects.ready_tenant_ids(self.queues)
            self.ready_at = time.monotonic()
        if not self.ready:
            return 0, False
        asks = self.drr.plan(self.ready, free)
        tasks = transitions.claim(
            worker=self.worker_id, asks=asks, queues=self.queues, lease_seconds=self.lease_seconds
        )
        got: dict[int, int] = {}
        for task in tasks:
            got[task.tenant_id] = got.get(task.tenant_id, 0) + 1
            self.pool.submit(task)
        self.drr.settle(asks, got)
        self.claimed += len(tasks)
        if any(got.get(t, 0) < n for t, n in asks.items()):
            self.stale_ready = True  # a tenant ran dry: the list has changed
        full = any(got.get(t, 0) >= n for t, n in asks.items() if n > 0)
        return len(tasks), full

    def _burst_finished(self) -> bool:
        if self.pool.busy() or self.unwritten():
            return False
        if maintenance.promote_due():
            return False
        if Task.objects.ready_tenant_ids(self.queues):
            return False
        # A retry due within a poll interval still counts as work to finish.
        soon = timezone.now() + timedelta(seconds=self.poll_seconds)
        return not Task.objects.filter(status=Status.SCHEDULED, run_at__lte=soon).exists()
