"""A tenant's webhook endpoints: where the engine POSTs signed notices of its tasks' outcomes."""

from django.db import models

from tenants.models import Tenant

#: The built-in task type that carries one delivery (``jobs.contrib.webhooks``); its own outcomes
#: never trigger webhooks, so a failing endpoint cannot feed itself.
DELIVERY_TYPE = "engine.webhook"

#: The events an endpoint may subscribe to (docs/WEBHOOKS.md), each a transition of ``jobs.lifecycle``:
#: the three final outcomes, and a failed attempt that will be retried.
EVENTS = ("task.completed", "task.failed", "task.cancelled", "task.retrying")


class WebhookQuerySet(models.QuerySet["Webhook"]):
    def active(self) -> "WebhookQuerySet":
        return self.filter(active=True)


class Webhook(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    url = models.URLField(max_length=2000)
    #: A subset of ``EVENTS``.
    events = models.JSONField(default=list)
    #: The HMAC-SHA256 key of ``Webhook-Signature``. Kept as is: the engine must sign with it, so a
    #: hash cannot do; it leaves the engine once, in the answer that created it (docs/WEBHOOKS.md).
    secret = models.CharField(max_length=100)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WebhookQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["tenant", "active"], name="webhook_tenant_idx")]

    def __str__(self) -> str:
        return f"webhook #{self.pk} → {self.url}"

    @property
    def concurrency_key(self) -> str:
        """The concurrency key of its deliveries: a slow endpoint holds up only its own (and they are listed by it)."""
        return f"webhook:{self.pk}"
