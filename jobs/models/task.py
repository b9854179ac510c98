"""The queue table.

Every state change is a named QuerySet operation guarded by the status it expects,
so two actors (a worker, an operator, the rescuer) can never both win.
"""

from collections.abc import Iterator
from datetime import datetime, timedelta

from django.db import models, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from tenants.models import Tenant

from .. import outbox


class Status(models.TextChoices):
    PENDING = "pending"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)
WAITING = (Status.PENDING, Status.SCHEDULED)


class TaskQuerySet(models.QuerySet["Task"]):
    def pending(self) -> "TaskQuerySet":
        return self.filter(status=Status.PENDING)

    def running(self) -> "TaskQuerySet":
        return self.filter(status=Status.RUNNING)

    def finished(self) -> "TaskQuerySet":
        return self.filter(status__in=FINISHED)

    def dead(self) -> "TaskQuerySet":
        """The dead-letter set: tasks that ran out of attempts."""
        return self.filter(status=Status.FAILED)

    def due(self, now: datetime) -> "TaskQuerySet":
        return self.filter(status=Status.SCHEDULED, run_at__lte=now)

    def expired(self, now: datetime) -> "TaskQuerySet":
        """Running tasks whose lease lapsed: their worker is gone."""
        return self.filter(status=Status.RUNNING, lease_expires_at__lt=now)

    def ready_tenants(self, queues: list[str] | None = None) -> "models.QuerySet[Tenant]":
        """Tenants with pending work: one claim-index probe per tenant, whatever the backlog.

        (A DISTINCT over the pending rows would read every pending index entry.)
        """
        pending = Task.objects.filter(status=Status.PENDING, tenant_id=OuterRef("pk"))
        if queues:
            pending = pending.filter(queue__in=queues)
        return Tenant.objects.filter(Exists(pending)).order_by("pk")

    def ready_tenant_ids(self, queues: list[str] | None = None) -> list[int]:
        return list(self.ready_tenants(queues).values_list("pk", flat=True))

    def claim(
        self,
        *,
        worker: str,
        asks: dict[int, int],
        queues: list[str] | None,
        lease_seconds: float,
    ) -> list["Task"]:
        """Claim up to ``asks[tenant]`` ready tasks per tenant for ``worker``; one UPDATE."""
        claimed: list[Task] = []
        # The lock window spans only these selects and one UPDATE: keep it short,
        # nothing here may wait on anything but the database.
        with transaction.atomic():
            for tenant_id, limit in asks.items():
                if limit <= 0:
                    continue
                qs = self.filter(status=Status.PENDING, tenant_id=tenant_id)
                if queues:
                    qs = qs.filter(queue__in=queues)
                claimed.extend(
                    qs.order_by("-priority", "id").select_for_update(skip_locked=True)[:limit]
                )
            if not claimed:
                return []
            now = timezone.now()
            lease = now + timedelta(seconds=lease_seconds)
            self.filter(id__in=[t.id for t in claimed], status=Status.PENDING).update(
                status=Status.RUNNING,
                worker=worker,
                attempts=F("attempts") + 1,
                started_at=now,
                lease_expires_at=lease,
                cancel_requested=False,
            )
            for task in claimed:
                task.status = Status.RUNNING
                task.worker = worker
                task.attempts += 1
                task.started_at = now
                task.lease_expires_at = lease
                task.cancel_requested = False
            outbox.record(outbox.change(t, "task.started", Status.RUNNING, worker=worker) for t in claimed)
        return claimed

    def promote_due(self, now: datetime, limit: int = 1000) -> int:
        """Move scheduled tasks whose time has come into the ready set."""
        ids = list(self.due(now).order_by("run_at").values_list("id", flat=True)[:limit])
        if not ids:
            return 0
        return self.filter(id__in=ids, status=Status.SCHEDULED).update(status=Status.PENDING)

    def renew_leases(self, *, worker: str, ids: list[int], lease_seconds: float) -> int:
        """Extend the leases ``worker`` holds; one statement per heartbeat."""
        if not ids:
            return 0
        return self.filter(id__in=ids, worker=worker, status=Status.RUNNING).update(
            lease_expires_at=timezone.now() + timedelta(seconds=lease_seconds)
        )

    def cancel_requested_among(self, *, worker: str, ids: list[int]) -> list[int]:
        if not ids:
            return []
        return list(
            self.filter(id__in=ids, worker=worker, status=Status.RUNNING, cancel_requested=True)
            .values_list("id", flat=True)
        )

    def _in_batches(self, batch: int = 1000) -> "Iterator[list[int]]":
        """Ids of this queryset, a bounded batch at a time (short transactions, bounded memory)."""
        last = 0
        while ids := list(self.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:batch]):
            yield ids
            last = ids[-1]

    def cancel_waiting(self) -> int:
        """Cancel pending/scheduled tasks at once."""
        from .. import stats

        total = 0
        for ids in self.filter(status__in=WAITING)._in_batches():
            now = timezone.now()
            with transaction.atomic():
                rows = list(
                    Task.objects.filter(pk__in=ids, status__in=WAITING).select_for_update()
                    .only("pk", "tenant_id", "type", "priority", "created_at", "attempts")
                )
                total += Task.objects.filter(pk__in=[t.pk for t in rows]).update(
                    status=Status.CANCELLED, finished_at=now, lease_expires_at=None
                )
                stats.record(stats.Finished(t.tenant_id, t.type, t.priority, Status.CANCELLED, t.created_at, None, now)
                             for t in rows)
                outbox.record(outbox.change(t, "task.cancelled", Status.CANCELLED) for t in rows)
        return total

    def request_cancel(self) -> int:
        """Ask running tasks to stop; their worker records them as cancelled."""
        # Already requested: still running, and the request stands.
        total = self.filter(status=Status.RUNNING, cancel_requested=True).count()
        for ids in self.filter(status=Status.RUNNING, cancel_requested=False)._in_batches():
            with transaction.atomic():
                rows = list(Task.objects.filter(pk__in=ids, status=Status.RUNNING).select_for_update()
                            .only("pk", "tenant_id", "type", "attempts"))
                total += Task.objects.filter(pk__in=[t.pk for t in rows]).update(cancel_requested=True)
                outbox.record(outbox.change(t, "task.cancel_requested", Status.RUNNING) for t in rows)
        return total

    def requeue(self) -> int:
        """Give failed or cancelled tasks a fresh set of attempts (history kept)."""
        from .. import stats

        total = 0
        for ids in self.filter(status__in=(Status.FAILED, Status.CANCELLED))._in_batches():
            with transaction.atomic():
                rows = list(
                    Task.objects.filter(pk__in=ids, status__in=(Status.FAILED, Status.CANCELLED))
                    .select_for_update()
                    .values_list("pk", "tenant_id", "type", "priority", "status", "created_at", "started_at",
                                 "finished_at")
                )
                total += Task.objects.filter(pk__in=[r[0] for r in rows]).update(
                    status=Status.PENDING,
                    attempts=0,
                    run_at=timezone.now(),
                    worker=None,
                    lease_expires_at=None,
                    cancel_requested=False,
                    started_at=None,
                    finished_at=None,
                    result=None,
                )
                # The task is no longer finished: take its finish event back out of the rollups.
                stats.record(
                    (stats.Finished(t, ty, p, st, c, s, f) for _, t, ty, p, st, c, s, f in rows if f is not None),
                    sign=-1,
                )
                outbox.record({"event": "task.requeued", "task": pk, "type": ty, "status": Status.PENDING,
                               "attempt": 0, "tenant_id": t} for pk, t, ty, *_ in rows)
        return total

    def release(self, *, worker: str, ids: list[int]) -> int:
        """Hand unfinished tasks back without counting the attempt (graceful shutdown)."""
        if not ids:
            return 0
        with transaction.atomic():
            rows = list(self.filter(id__in=ids, worker=worker, status=Status.RUNNING).select_for_update()
                        .only("pk", "tenant_id", "type", "attempts"))
            n = Task.objects.filter(pk__in=[t.pk for t in rows]).update(
                status=Status.PENDING,
                attempts=F("attempts") - 1,
                worker=None,
                lease_expires_at=None,
                started_at=None,
            )
            outbox.record(outbox.change(t, "task.released", Status.PENDING) for t in rows)
        return n

    def prunable(self, older_than: datetime) -> "TaskQuerySet":
        return self.filter(finished_at__lt=older_than, status__in=FINISHED)


class Task(models.Model):
    """One unit of work; the table is the queue."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="tasks")
    queue = models.CharField(max_length=64, default="default")
    type = models.CharField(max_length=100)
    priority = models.PositiveSmallIntegerField(default=3, help_text="1 (lowest) … 5 (most urgent)")
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0, help_text="Runs started so far")
    max_retries = models.PositiveIntegerField(default=3, help_text="Retries after the first run")
    run_at = models.DateTimeField(default=timezone.now, help_text="Not before this time")
    timeout = models.PositiveIntegerField(default=300, help_text="Seconds per run")
    # NULL, not "": a tenant has any number of tasks without a key, and one per key.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    worker = models.CharField(  # noqa: DJ001 — NULL means "never claimed"
        max_length=120, null=True, blank=True, help_text="Last holder of the lease"
    )
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    result = models.JSONField(null=True, blank=True)
    errors = models.JSONField(default=list, blank=True, help_text="One entry per failed attempt")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TaskQuerySet.as_manager()

    class Meta:
        indexes = [
            # The claim: WHERE status AND tenant ORDER BY priority DESC, id — filter
            # columns then order columns, so no filesort and no over-locking.
            models.Index(fields=["status", "tenant", "-priority", "id"], name="task_claim_idx"),
            models.Index(fields=["status", "run_at"], name="task_due_idx"),
            models.Index(fields=["status", "lease_expires_at"], name="task_lease_idx"),
            models.Index(fields=["finished_at"], name="task_finished_idx"),
            # Listing a tenant's tasks newest first, and its latest finished ones (percentiles).
            models.Index(fields=["tenant", "created_at"], name="task_tenant_created_idx"),
            models.Index(fields=["tenant", "finished_at"], name="task_tenant_finished_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "idempotency_key"], name="task_idempotency_uniq"),
            models.CheckConstraint(condition=Q(priority__gte=1, priority__lte=5), name="task_priority_1_5"),
        ]

    def __str__(self) -> str:
        return f"{self.type}#{self.pk} ({self.status})"

    @property
    def max_attempts(self) -> int:
        return self.max_retries + 1

    @property
    def queue_wait(self) -> timedelta | None:
        return self.started_at - self.created_at if self.started_at else None

    @property
    def execution_time(self) -> timedelta | None:
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None
