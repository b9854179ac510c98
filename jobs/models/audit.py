"""The operator audit log: who changed what, when and from where; written with the change."""

from django.db import models
from django.utils import timezone

from tenants.models import Tenant


class AuditEntryQuerySet(models.QuerySet["AuditEntry"]):
    def update(self, **kwargs: object) -> int:
        raise TypeError("audit entries are immutable")


class AuditEntry(models.Model):
    """One operator change. Immutable: only pruning (``jobs.services.audit.prune``) removes entries."""

    at = models.DateTimeField(default=timezone.now)
    #: ``user`` (console, admin), ``key`` (an operator API key), ``cli`` (user@host), ``engine``.
    actor_kind = models.CharField(max_length=8)
    #: The username, the key's prefix, or user@host.
    actor = models.CharField(max_length=200)
    #: ``console``, ``admin``, ``api``, ``cli`` or ``engine``.
    source = models.CharField(max_length=8)
    #: The client's address (console, admin, API) or the host (CLI).
    address = models.CharField(max_length=64, blank=True, default="")
    #: Dotted, noun first: ``task.cancel``, ``tasks.requeue``, ``pause.create``, ``key.issue``, …
    action = models.CharField(max_length=64)
    tenant = models.ForeignKey(Tenant, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    #: What it acted on, for people: "task 12", "tenant acme", "schedule nightly".
    target = models.CharField(max_length=200, blank=True, default="")
    #: Target ids (the first ``AUDIT_MAX_IDS``; ``counts`` has the total).
    target_ids = models.JSONField(default=list, blank=True)
    #: The filter a bulk action selected by.
    filter = models.JSONField(default=dict, blank=True)
    #: Counts (``matched``, ``changed``, ``skipped``, …) and before/after values of what changed.
    counts = models.JSONField(default=dict, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["at"], name="audit_at_idx"),
            models.Index(fields=["action", "at"], name="audit_action_idx"),
            models.Index(fields=["tenant", "at"], name="audit_tenant_idx"),
            models.Index(fields=["actor", "at"], name="audit_actor_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.target}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None and not self._state.adding:
            raise TypeError("audit entries are immutable")
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise TypeError("audit entries are immutable (pruning removes old ones)")
