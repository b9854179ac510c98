"""Rollups that keep analytics fast at millions of rows (no full-table scans per request).

They record finish events as they happen (written in the same transaction as the
task's final state), so they also count tasks that retention has since pruned.
"""

from django.db import models

from tenants.models import Tenant


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
    wait_ms_sum = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "hour", "type", "priority", "status"], name="taskstat_key"),
        ]
        indexes = [models.Index(fields=["hour"], name="taskstat_hour_idx")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h {self.type} p{self.priority} {self.status}: {self.count}"


class ThroughputBucket(models.Model):
    """Finished tasks per tenant per 10-second bucket (live throughput charts)."""

    SECONDS = 10

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    bucket = models.DateTimeField()
    completed = models.BigIntegerField(default=0)
    failed = models.BigIntegerField(default=0)
    cancelled = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "bucket"], name="throughput_key")]
        indexes = [models.Index(fields=["bucket"], name="throughput_bucket_idx")]

    def __str__(self) -> str:
        return f"{self.bucket:%H:%M:%S} +{self.SECONDS}s: {self.completed} completed, {self.failed} failed"
