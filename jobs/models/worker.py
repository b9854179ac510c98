"""The registry of live worker processes."""

from datetime import datetime, timedelta
from typing import Any

from django.db import models
from django.utils import timezone


class WorkerProcessQuerySet(models.QuerySet["WorkerProcess"]):
    def alive(self, now: datetime, ttl: float) -> "WorkerProcessQuerySet":
        return self.filter(last_heartbeat__gte=now - timedelta(seconds=ttl))

    def dead(self, now: datetime, ttl: float) -> "WorkerProcessQuerySet":
        return self.filter(last_heartbeat__lt=now - timedelta(seconds=ttl))


class WorkerProcess(models.Model):
    """A live worker process, kept current by its heartbeat."""

    id = models.CharField(primary_key=True, max_length=120)
    instance = models.CharField(max_length=120, help_text="Host or INSTANCE_ID")
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    queues = models.CharField(max_length=500, blank=True, help_text="Empty: every queue")
    threads = models.PositiveIntegerField()
    state = models.CharField(max_length=16, default="running")
    slots: Any = models.JSONField(default=list, blank=True, help_text="Busy/idle per executor slot")
    started_at = models.DateTimeField(default=timezone.now)
    last_heartbeat = models.DateTimeField(default=timezone.now)
    clock_skew = models.FloatField(
        null=True, blank=True,
        help_text="Seconds this host's clock is ahead of the database's (negative: behind), at the last heartbeat",
    )

    objects = WorkerProcessQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "worker processes"  # not Django's "worker processs"
        indexes = [models.Index(fields=["last_heartbeat"], name="workerprocess_heartbeat_idx")]

    def __str__(self) -> str:
        return self.id
