from django.core.validators import MinValueValidator
from django.db import models

from .conf import default_max_running


class TenantQuerySet(models.QuerySet["Tenant"]):
    def active(self) -> "TenantQuerySet":
        return self.filter(active=True)


class Tenant(models.Model):
    """A customer of the engine: owns tasks; its weight is its share under contention."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    weight = models.PositiveIntegerField(
        default=1,
        validators=[MinValueValidator(1)],
        help_text="Share of worker capacity under contention (Deficit Round Robin).",
    )
    active = models.BooleanField(default=True, help_text="Inactive tenants cannot enqueue.")
    rate_limit = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="Tasks accepted per window over the API; empty: JOBS['API_RATE_LIMIT'].",
    )
    rate_window_seconds = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)],
        help_text="Length of the sliding window; empty: JOBS['API_RATE_WINDOW_SECONDS'].",
    )
    max_running = models.PositiveIntegerField(
        null=True, blank=True, default=default_max_running, validators=[MinValueValidator(1)],
        help_text="Most tasks of this tenant running at once, across every worker; empty: no cap.",
    )
    allowed_queues = models.JSONField(
        default=list, blank=True,
        help_text="Queues this tenant may name on submission; empty: its own (its slug) and 'default'.",
    )
    max_pending = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)],
        help_text="Most waiting tasks (pending, scheduled, blocked); beyond it submissions answer 429. Empty: no cap.",
    )
    max_pending_age_seconds = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)],
        help_text="Submissions answer 429 while the oldest due waiting task is older than this. Empty: no cap.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(condition=models.Q(weight__gte=1), name="tenant_weight_gte_1"),
            models.CheckConstraint(condition=models.Q(max_running__isnull=True) | models.Q(max_running__gte=1),
                                   name="tenant_max_running_gte_1"),
        ]

    def __str__(self) -> str:
        return self.slug


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def active(self) -> "ApiKeyQuerySet":
        return self.filter(revoked_at__isnull=True, tenant__active=True)


class ApiKey(models.Model):
    """A credential for the HTTP API. Only a hash of its secret is stored; it is shown once."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    #: The public part of the key, used to find it; the secret is verified against ``hashed``.
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    hashed = models.CharField(max_length=64, editable=False)
    is_operator = models.BooleanField(
        default=False, help_text="May read every tenant (?all=true) and use the demo endpoints."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"
        # Issuing a key (add_apikey) does not let one mint an operator key: that reads every tenant.
        permissions = [("issue_operator_key", "Can issue operator API keys")]

    def __str__(self) -> str:
        return f"{self.tenant.slug}:{self.prefix}{' (revoked)' if self.revoked_at else ''}"

    @property
    def active(self) -> bool:
        return self.revoked_at is None
