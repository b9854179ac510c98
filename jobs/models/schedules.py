"""Recurring tasks: a schedule, and one row per tick it fired (the tick's uniqueness is the guarantee)."""

from django.db import models

from tenants.models import Tenant

from .task import Task


class Schedule(models.Model):
    """A task enqueued on a cron expression or a fixed interval, in a time zone."""

    class Missed(models.TextChoices):
        #: Fire nothing for ticks missed while no worker ran; go on from the next one.
        SKIP = "skip"
        #: Fire once for whatever was missed (the latest missed tick), then go on.
        LATEST = "latest"
        #: Fire every missed tick, at most ``missed_limit`` of them (the most recent).
        ALL = "all"

    class Source(models.TextChoices):
        SETTINGS = "settings"  # JOBS["SCHEDULES"], synced when a worker starts
        RUNTIME = "runtime"  # the console, the admin, the API or the CLI

    name = models.CharField(max_length=100, unique=True)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="schedules")
    type = models.CharField(max_length=100)
    payload = models.JSONField(default=dict, blank=True)
    priority = models.PositiveSmallIntegerField(default=3)
    queue = models.CharField(max_length=64, blank=True, default="", help_text="Empty: the type's or the default")
    #: Other task fields for every task it enqueues (timeout_seconds, max_retries, unique_key, …).
    options = models.JSONField(default=dict, blank=True)
    cron = models.CharField(max_length=120, blank=True, default="", help_text="5 fields, or 6 with seconds first")
    every = models.PositiveIntegerField(null=True, blank=True, help_text="Seconds between ticks (instead of cron)")
    timezone = models.CharField(max_length=64, default="UTC")
    enabled = models.BooleanField(default=True)
    missed = models.CharField(max_length=8, choices=Missed.choices, default=Missed.LATEST)
    missed_limit = models.PositiveSmallIntegerField(default=10, help_text="With missed=all: at most this many")
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.RUNTIME)
    #: The last tick fired (its scheduled time, UTC) and the next one due.
    last_run_at = models.DateTimeField(null=True, blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["enabled", "next_run_at"], name="schedule_due_idx")]
        constraints = [
            models.CheckConstraint(condition=~models.Q(cron="") | models.Q(every__isnull=False),
                                   name="schedule_cron_or_every"),
        ]

    def __str__(self) -> str:
        return self.name


class ScheduleTick(models.Model):
    """One tick of a schedule and the task it enqueued: at most one row (one task) per tick."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="ticks")
    #: The tick's scheduled time (UTC); for ``run-now``, the moment it was asked.
    tick_at = models.DateTimeField()
    fired_at = models.DateTimeField()
    #: NULL once the task is pruned (the tick stays: the schedule's history).
    task = models.ForeignKey(Task, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    #: Ticks passed over before this one (missed while no worker ran, by the policy).
    skipped = models.PositiveIntegerField(default=0)
    manual = models.BooleanField(default=False, help_text="Fired by run-now, not the clock")
    #: Why no task was enqueued (the type is gone, the tenant inactive, a bound refused it).
    error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["-tick_at"]
        constraints = [models.UniqueConstraint(fields=["schedule", "tick_at"], name="scheduletick_uniq")]

    def __str__(self) -> str:
        return f"{self.schedule_id}@{self.tick_at.isoformat()}"
