"""Which tenants may submit a task type whose access is ``"listed"`` (``@task(access="listed")``)."""

from django.db import models

from tenants.models import Tenant


class TypeGrant(models.Model):
    """One tenant allowed to submit one listed task type over the API (edited in the console and the admin)."""

    type = models.CharField(max_length=100, help_text="A registered task type whose access is 'listed'")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="type_grants")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["type", "tenant"]
        constraints = [models.UniqueConstraint(fields=["tenant", "type"], name="typegrant_uniq")]

    def __str__(self) -> str:
        return f"{self.type} → {self.tenant_id}"
