from django.core.validators import MinValueValidator
from django.db import models


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
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(condition=models.Q(weight__gte=1), name="tenant_weight_gte_1"),
        ]

    def __str__(self) -> str:
        return self.slug
