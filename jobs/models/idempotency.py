"""Idempotency keys of whole requests (``POST /api/tasks/batch``): what the first request was and got.

Single submissions keep their key on the task itself (``Task.idempotency_key``); a batch is many
tasks, so its key has a row of its own, unique per tenant: of concurrent first requests with one
key, one inserts it and the others wait for its commit, then replay it.
"""

from django.db import models
from django.utils import timezone

from tenants.models import Tenant


class BatchKey(models.Model):
    """One ``Idempotency-Key`` of a tenant's batch: its request's hash and the answer it was given.

    Kept for ``jobs.services.idempotency.BATCH_KEY_RETENTION_SECONDS``, then pruned
    (``jobs.services.maintenance.prune_side_tables``).
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    #: Compared byte for byte, case and trailing spaces included (the column's collation: migration).
    key = models.CharField(max_length=255)
    #: SHA-256 of the request body as sent (``jobs.services.idempotency.request_hash``).
    request_hash = models.CharField(max_length=64)
    #: The answer a replay repeats: its status and body.
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "key"], name="batchkey_tenant_key_uniq")]
        indexes = [models.Index(fields=["created_at"], name="batchkey_created_idx")]

    def __str__(self) -> str:
        return f"batch key {self.key!r} of tenant {self.tenant_id}"
