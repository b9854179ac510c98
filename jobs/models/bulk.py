"""An operator's bulk action running in the background: what it selected, and how far it got."""

from django.db import models

from tenants.models import Tenant

from .task import Task


class BulkAction(models.Model):
    """One bulk action (cancel or retry all matching, requeue a dead-letter group), run by a task
    of the internal type ``engine.bulk`` in bounded batches; the console shows its progress live."""

    class Kind(models.TextChoices):
        CANCEL = "cancel"
        RETRY = "retry"  # requeue the failed or cancelled tasks that match
        REQUEUE_DEAD = "requeue-dead"  # requeue a dead-letter group

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        STOPPED = "stopped"  # refused part way (a rate limit) or cancelled: ``message`` says why
        FAILED = "failed"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    #: NULL: every tenant (an operator's action).
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    #: The filter, as the task list (or the dead-letter group) spells it.
    filter = models.JSONField(default=dict, blank=True)
    #: Acts only on tasks with ids up to this: what the confirmation counted, not what arrived since.
    cutoff_id = models.PositiveBigIntegerField()
    #: How many the confirmation counted.
    expected = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0, help_text="Tasks changed so far")
    skipped = models.PositiveIntegerField(default=0, help_text="Counted but no longer in a state it applies to")
    state = models.CharField(max_length=8, choices=State.choices, default=State.QUEUED)
    message = models.CharField(max_length=500, blank=True, default="")
    #: Who started it (``jobs.actor.Actor`` as a dict): its final audit entry names them.
    actor = models.JSONField(default=dict, blank=True)
    #: The same action on the same selection: a second click finds the first job by this.
    key = models.CharField(max_length=64)
    task = models.ForeignKey(Task, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["key", "state"], name="bulk_key_idx")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.state})"
