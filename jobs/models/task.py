"""The queue table and its read-only vocabulary.

Nothing here changes a status: every transition lives in ``jobs.store`` (the statuses and
the allowed transitions in ``jobs.lifecycle``).
"""

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import reduce
from operator import or_

from django.db import models
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from tenants.models import Tenant

from ..conf import EngineConf
from ..lifecycle import FINISHED, WAITING, Status
from .stats import queue_wait


class TaskQuerySet(models.QuerySet["Task"]):
    def pending(self) -> "TaskQuerySet":
        return self.filter(status=Status.PENDING)

    def running(self) -> "TaskQuerySet":
        return self.filter(status=Status.RUNNING)

    def finished(self) -> "TaskQuerySet":
        return self.filter(status__in=FINISHED)

    def failed(self) -> "TaskQuerySet":
        """The dead-letter set: tasks that ran out of attempts (or were not retryable)."""
        return self.filter(status=Status.FAILED)

    def due(self, now: datetime) -> "TaskQuerySet":
        return self.filter(status=Status.SCHEDULED, run_at__lte=now)

    def expired(self, now: datetime) -> "TaskQuerySet":
        """Running tasks whose lease lapsed: their worker is gone."""
        return self.filter(status=Status.RUNNING, lease_expires_at__lt=now)

    def ready_tenants(self, queues: list[str] | None = None) -> "models.QuerySet[Tenant]":
        """Active tenants with pending work: one claim-index probe per tenant, whatever the backlog.

        (A DISTINCT over the pending rows would read every pending index entry.)
        """
        pending = Task.objects.filter(status=Status.PENDING, tenant_id=OuterRef("pk"))
        if queues:
            pending = pending.filter(queue__in=queues)
        # An inactive tenant's waiting tasks wait: it is not asked (``why`` says so).
        return Tenant.objects.filter(Exists(pending), active=True).order_by("pk")

    def ready_tenant_ids(self, queues: list[str] | None = None) -> list[int]:
        return list(self.ready_tenants(queues).values_list("pk", flat=True))

    def running_by_tenant(self, tenant_ids: list[int]) -> "models.QuerySet[Task, tuple[int, int]]":
        """(tenant id, running tasks) for ``tenant_ids``: a range of ``task_claim_idx`` (status, tenant) each."""
        # ``IN (…)``: the console's guard against whole-table counts knows it for a live range.
        return (self.filter(status__in=[Status.RUNNING], tenant_id__in=tenant_ids).order_by()
                .values("tenant_id").annotate(n=Count("id")).values_list("tenant_id", "n"))

    def holding(self, worker: str, runs: Iterable[tuple[int, int]]) -> "TaskQuerySet":
        """The runs (task id, claim token) that ``worker`` still holds: running, on that claim."""
        by_run: dict[int, list[int]] = defaultdict(list)
        for pk, run in runs:
            by_run[run].append(pk)
        if not by_run:
            return self.none()
        fence = reduce(or_, (Q(pk__in=ids, run=run) for run, ids in by_run.items()))
        return self.filter(fence, worker=worker, status=Status.RUNNING)

    def held_runs(self, worker: str, runs: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
        return set(self.holding(worker, runs).values_list("pk", "run"))

    def cancel_requested_among(self, worker: str, runs: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
        return set(self.holding(worker, runs).filter(cancel_requested=True).values_list("pk", "run"))

    def prunable(self, older_than: datetime) -> "TaskQuerySet":
        return self.filter(finished_at__lt=older_than, status__in=FINISHED)


class Task(models.Model):
    """One unit of work; the table is the queue."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="tasks")
    queue = models.CharField(max_length=64, default=EngineConf.default("DEFAULT_QUEUE"))
    type = models.CharField(max_length=100)
    priority = models.PositiveSmallIntegerField(default=EngineConf.default("DEFAULT_PRIORITY"),
                                                help_text="1 (lowest) … 5 (most urgent)")
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0, help_text="Runs started so far")
    lost = models.PositiveIntegerField(default=0, help_text="Runs lost with their worker (not charged as retries)")
    #: NULL: the type's ``max_lost``, else JOBS['MAX_LOST'].
    max_lost = models.PositiveIntegerField(null=True, blank=True,
                                           help_text="Lost runs allowed before the task is dead-lettered")
    #: A claim handed back before its handler started (prefetched when its worker died) costs
    #: nothing; a task that has been handed back once records its next start before running, so
    #: one that kills its worker at once cannot loop uncharged.
    returned = models.PositiveIntegerField(default=0, help_text="Claims rescued before the run started (not charged)")
    interrupted = models.PositiveIntegerField(
        default=0, help_text="Runs still going when their worker's drain ended, handed back (past a bound: charged)")
    #: The claim token: one more on every claim, never reset (not even by a requeue), so a
    #: run's writes can be fenced on it and a stale run can never pass for a newer one.
    run = models.PositiveBigIntegerField(default=0, help_text="Claims so far: the current run's fence token")
    #: Within a tenant, at most ``concurrency_limit`` tasks with the same key run at once.
    concurrency_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    concurrency_limit = models.PositiveSmallIntegerField(default=1, help_text="Tasks of its key that may run at once")
    #: A ``Resource`` (by name) whose rate limits this task's starts.
    resource = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    #: The gate that last held this task back: ``key`` or ``pause`` (``blocked``), ``resource``
    #: (``scheduled`` until the next token), ``snooze`` (``scheduled``: its handler called
    #: ``ctx.snooze``); cleared when it becomes ``pending`` again.
    blocked_on = models.CharField(max_length=16, null=True, blank=True)  # noqa: DJ001
    snoozed = models.PositiveIntegerField(default=0, help_text="Runs that snoozed (ctx.snooze: not charged)")
    max_retries = models.PositiveIntegerField(default=EngineConf.default("DEFAULT_MAX_RETRIES"),
                                              help_text="Retries after the first run")
    run_at = models.DateTimeField(default=timezone.now, help_text="Not before this time")
    timeout = models.PositiveIntegerField(default=EngineConf.default("DEFAULT_TIMEOUT"), help_text="Seconds per run")
    # NULL, not "": a tenant has any number of tasks without a key, and one per key.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    #: SHA-256 of the request that carried ``idempotency_key``: a replay with another body is a 409.
    request_hash = models.CharField(max_length=64, null=True, blank=True, editable=False)  # noqa: DJ001
    #: Unique tasks (``jobs.unique``): the key as submitted, kept for the record.
    unique_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    #: The key while this task holds it: set at insert, cleared (for good) by the transition that
    #: leaves ``unique_states``, or by the next enqueue of the key once ``unique_until`` has passed.
    #: One holder per (tenant, key): a database unique index, so instances cannot race past it.
    unique_active = models.CharField(max_length=255, null=True, blank=True, editable=False)  # noqa: DJ001
    #: The state groups the key counts in, as bits (``jobs.unique.STATE_BITS``); 0: no key.
    unique_states = models.PositiveSmallIntegerField(default=0, editable=False)
    #: End of the key's window (``unique_for``); NULL: held as long as the task is in its states.
    unique_until = models.DateTimeField(null=True, blank=True, editable=False)
    worker = models.CharField(  # noqa: DJ001 — NULL means "never claimed"
        max_length=120, null=True, blank=True, help_text="Last holder of the lease"
    )
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    result = models.JSONField(null=True, blank=True)
    errors = models.JSONField(default=list, blank=True,
                              help_text="The first and the latest failed attempts (JOBS['ERROR_HISTORY'])")
    errors_dropped = models.PositiveIntegerField(
        default=0, help_text="Entries dropped from the middle of the history: failed attempts = len(errors) + this")
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
            # A key's running count (its slots in use) and its blocked tasks.
            models.Index(fields=["status", "tenant", "concurrency_key"], name="task_gate_idx"),
            models.Index(fields=["status", "lease_expires_at"], name="task_lease_idx"),
            models.Index(fields=["finished_at"], name="task_finished_idx"),
            # Listing a tenant's tasks newest first, and its latest finished ones (percentiles).
            models.Index(fields=["tenant", "created_at"], name="task_tenant_created_idx"),
            # API lists: a tenant's newest (oldest) ids, read index-only, bound every filter and sort
            # to a window of them (jobs.services.scan.window).
            models.Index(fields=["tenant", "id"], name="task_tenant_id_idx"),
            models.Index(fields=["tenant", "finished_at"], name="task_tenant_finished_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "idempotency_key"], name="task_idempotency_uniq"),
            models.UniqueConstraint(fields=["tenant", "unique_active"], name="task_unique_active_uniq"),
            models.CheckConstraint(condition=Q(priority__gte=1, priority__lte=5), name="task_priority_1_5"),
        ]

    def __str__(self) -> str:
        return f"{self.type}#{self.pk} ({self.status})"

    @property
    def max_attempts(self) -> int:
        return self.max_retries + 1

    @property
    def queue_wait(self) -> timedelta | None:
        """The current or last run's wait from when its attempt was due (``stats.queue_wait``); None
        while the task waits again (during a retry's back-off the last start's due time is gone)."""
        return None if self.status in WAITING else queue_wait(self.created_at, self.run_at, self.started_at)

    @property
    def execution_time(self) -> timedelta | None:
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None
