"""Rollups that keep analytics fast at millions of rows (no full-table scans per request).

They record finish events as they happen (written in the same transaction as the
task's final state), so they also count tasks that retention has since pruned.

Two kinds of figures, kept apart on purpose:

* tasks by final status (``TaskStat``, the status columns of ``ThroughputBucket``): a task
  counts once, under the status it has now, at the time it reached it; a requeue takes it back
  out (a failed task is one in the dead letter now, not one that failed once);
* attempts (``AttemptStat``, the attempt columns of ``ThroughputBucket``): every run that
  ended, failed or not; they happened, and no requeue takes them back.
"""

from datetime import datetime, timedelta

from django.db import models

from tenants.models import Tenant


def queue_wait(created_at: datetime, run_at: datetime | None, started_at: datetime | None) -> timedelta | None:
    """How long a run waited once its attempt was due: ``started_at - max(created_at, run_at)``, where
    ``run_at`` is the task's as the run was claimed. A delay asked for and a retry's back-off are not
    waiting. None when the run did not start; never negative (a start a few ms ahead of ``run_at``
    is two clocks disagreeing, not a run before its time).
    """
    if started_at is None:
        return None
    due = max(created_at, run_at) if run_at is not None else created_at
    return max(timedelta(0), started_at - due)


class TaskStat(models.Model):
    """Finished tasks per tenant, hour, type, priority and final status."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()
    type = models.CharField(max_length=100)
    priority = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=16)
    count = models.BigIntegerField(default=0)
    #: Tasks among ``count`` that started (a task cancelled while waiting never did).
    timed = models.BigIntegerField(default=0)
    exec_ms_sum = models.BigIntegerField(default=0)
    #: The last run's ``queue_wait``: from when its attempt became due, not from the task's creation.
    wait_ms_sum = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "hour", "type", "priority", "status"], name="taskstat_key"),
        ]
        indexes = [models.Index(fields=["hour"], name="taskstat_hour_idx")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h {self.type} p{self.priority} {self.status}: {self.count}"


class AttemptStat(models.Model):
    """Runs that ended per tenant, hour (of the end) and type: all of them, and those that failed.

    A failed attempt is a run that ended in an error, retried or dead-lettered (or lost with its
    worker); a run that completed or was cancelled is an attempt that did not fail. A snoozed run
    gives its attempt back and is not counted.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()
    type = models.CharField(max_length=100)
    attempts = models.BigIntegerField(default=0, db_default=0)
    failed_attempts = models.BigIntegerField(default=0, db_default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "hour", "type"], name="attemptstat_key")]
        indexes = [models.Index(fields=["hour"], name="attemptstat_hour_idx")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h {self.type}: {self.failed_attempts} of {self.attempts} attempts failed"


class ThroughputBucket(models.Model):
    """Per tenant per 10-second bucket: finished tasks by final status (their timings, for averages over
    a rolling window) and ended attempts (live throughput charts, the last hour's figures)."""

    SECONDS = 10

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    bucket = models.DateTimeField()
    completed = models.BigIntegerField(default=0)
    failed = models.BigIntegerField(default=0)
    cancelled = models.BigIntegerField(default=0)
    # db_default: rows inserted by hand (the bench's bulk load) name only the columns above.
    timed = models.BigIntegerField(default=0, db_default=0)
    exec_ms_sum = models.BigIntegerField(default=0, db_default=0)
    wait_ms_sum = models.BigIntegerField(default=0, db_default=0)
    attempts = models.BigIntegerField(default=0, db_default=0)
    failed_attempts = models.BigIntegerField(default=0, db_default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "bucket"], name="throughput_key")]
        indexes = [models.Index(fields=["bucket"], name="throughput_bucket_idx")]

    def __str__(self) -> str:
        return f"{self.bucket:%H:%M:%S} +{self.SECONDS}s: {self.completed} completed, {self.failed} failed"
