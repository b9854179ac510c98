"""The event outbox: one row per batch of task state changes, written in the same transaction.

Its auto-increment id orders events for the live streams (SSE ``id:``); rows are pruned
after ``JOBS['EVENT_RETENTION_SECONDS']``.
"""

from django.db import models
from django.utils import timezone

from tenants.models import Tenant


class Event(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    created_at = models.DateTimeField(default=timezone.now)
    #: ``[{"event": "task.completed", "task": 42, "type": "send_email", "status": "completed", "attempt": 1}]``
    changes = models.JSONField(default=list)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "id"], name="event_tenant_idx"),
            models.Index(fields=["created_at"], name="event_created_idx"),
        ]

    def __str__(self) -> str:
        return f"event {self.pk}: {len(self.changes)} change(s)"
