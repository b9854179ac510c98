"""The gates a claim checks besides the tenant's cap: concurrency keys, resources, pauses.

Every gate is decided at claim time, in the claim's transaction: a key's row is the lock
that serialises the claims of its tasks (the slots in use are its running tasks, so the run's
fenced end frees one, and a rescue gives back a dead worker's), a resource's bucket row holds
the starts of its current window, and a pause is a row every dispatcher reads within a second.
"""

from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from tenants.models import Tenant


class ConcurrencyKey(models.Model):
    """A (tenant, key) that tasks share: locked by the claims of its tasks, one at a time.

    Written when the first task naming it is enqueued; it holds no count (the running tasks
    with the key are the slots in use, so nothing can drift or leak).
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "key"], name="concurrency_key_uniq")]

    def __str__(self) -> str:
        return f"{self.tenant_id}:{self.key}"


class Resource(models.Model):
    """An execution-side rate limit: at most ``rate`` starts per ``per_seconds`` of the tasks naming it."""

    name = models.CharField(max_length=100, unique=True)
    rate = models.PositiveIntegerField(validators=[MinValueValidator(1)], help_text="Starts allowed per window")
    per_seconds = models.FloatField(validators=[MinValueValidator(0.001)], help_text="Length of the window")
    per_tenant = models.BooleanField(default=False, help_text="One window per tenant (else one for everyone)")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [models.CheckConstraint(condition=models.Q(rate__gte=1), name="resource_rate_gte_1")]

    def __str__(self) -> str:
        return self.name


class ResourceBucket(models.Model):
    """A resource's window for one scope (a tenant's id, or 0: everyone): the starts it admitted lately.

    A sliding log, not a token bucket: a bucket refilled continuously lets up to twice the rate
    start within one window; the log admits a start only when fewer than ``rate`` fall within
    the last ``per_seconds``.
    """

    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="buckets")
    scope = models.PositiveBigIntegerField(default=0, help_text="Tenant id, or 0 for a global resource")
    #: Admission times (seconds since the epoch, the database's clock), oldest first, at most ``rate``.
    starts = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["resource", "scope"], name="resource_bucket_uniq")]

    def __str__(self) -> str:
        return f"{self.resource_id}@{self.scope}"


class Pause(models.Model):
    """A queue, a task type or a tenant that no claim may start work of until resumed."""

    class Kind(models.TextChoices):
        QUEUE = "queue"
        TYPE = "type"
        TENANT = "tenant"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    #: The queue's name, the type's name or the tenant's slug.
    value = models.CharField(max_length=100)
    reason = models.CharField(max_length=500, blank=True)
    paused_by = models.CharField(max_length=200, blank=True, help_text="Who paused it (user, key, CLI user@host)")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["kind", "value"]
        constraints = [models.UniqueConstraint(fields=["kind", "value"], name="pause_uniq")]

    def __str__(self) -> str:
        return f"{self.kind} {self.value}"
