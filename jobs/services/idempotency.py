"""Idempotency keys as Stripe has them: a key replays its first request, and only that request.

The first request with a key stores ``Task.request_hash``, the SHA-256 of its spec as sent
(canonical JSON: sorted keys, compact; the key itself left out, so the header and the body
field hash alike). A replay with the same hash answers with the original task; one with
another body is refused (``Mismatch``: a 409), since answering with a task that is not the one
asked for would hide the client's bug. Tasks stored before the hash existed (NULL) replay as
they always did. Keys live as long as their task's row.

A batch's ``Idempotency-Key`` (``POST /api/tasks/batch``) names the whole request: its row
(``BatchKey``) holds the hash of the body as sent and the answer it got, which a replay repeats
(status and body: the ids in order, as they were); another body is a 409. The row is inserted
first in the batch's own transaction, so of concurrent first requests one writes and the rest
wait for its commit (the unique index), then replay it. Batch keys are kept
``BATCH_KEY_RETENTION_SECONDS`` (then pruned with the other side tables, and free again).
"""

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction

from .. import clock
from ..models import BatchKey, Task

__all__ = [
    "BATCH_KEY_RETENTION_SECONDS", "COMPARED", "KeyTaken", "Mismatch", "check", "check_batch", "claim_batch",
    "differing", "prune_batch_keys", "record_batch", "replays", "request_hash", "stored_batch",
]

#: How long a batch's Idempotency-Key replays its first answer (Stripe's 24 h): long enough for any
#: client's retries, short enough that the table stays small.
BATCH_KEY_RETENTION_SECONDS = 24 * 3600

#: The stored fields a replay can be compared on (the task's column: the spec's field).
COMPARED = {
    "type": "type", "payload": "payload", "priority": "priority", "queue": "queue", "max_retries": "max_retries",
    "max_lost": "max_lost", "timeout": "timeout_seconds", "concurrency_key": "concurrency_key",
    "concurrency_limit": "concurrency_limit", "resource": "resource",
}


def request_hash(spec: Mapping[str, Any]) -> str:
    body = {k: v for k, v in spec.items() if k != "idempotency_key"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class Mismatch(Exception):
    """A key already used with another request body; ``differs`` names the fields known to differ."""

    def __init__(self, key: str, differs: list[str]) -> None:
        what = f" ({', '.join(differs)} differ)" if differs else ""
        super().__init__(f"The request body differs from the one first sent with idempotency key {key!r}{what}; "
                         "use a new key for a new request.")
        self.key = key
        self.differs = differs


def differing(original: Task, sent: Task) -> list[str]:
    """The spec fields whose stored value differs from the request's (a delay or ``run_at`` cannot
    be compared: both are relative to when each request came)."""
    return [name for column, name in COMPARED.items() if getattr(original, column) != getattr(sent, column)]


def replays(original: Task, sent: Task) -> bool:
    """Whether ``sent`` (built from a request with ``original``'s key) is a replay of it."""
    return original.request_hash is None or original.request_hash == sent.request_hash


def check(original: Task, sent: Task) -> None:
    """Raise ``Mismatch`` unless ``sent`` is a replay of ``original``."""
    if replays(original, sent):
        return
    raise Mismatch(original.idempotency_key or "", differing(original, sent))


class KeyTaken(Exception):
    """A concurrent request committed this batch key first: replay its answer (nothing of ours was written)."""


def _expired_before() -> datetime:
    return clock.now() - timedelta(seconds=BATCH_KEY_RETENTION_SECONDS)


def stored_batch(tenant_id: int, key: str) -> BatchKey | None:
    """The answer ``key`` got, if it is still kept (one past its retention, not pruned yet, is deleted:
    the key is free again)."""
    row = BatchKey.objects.filter(tenant_id=tenant_id, key=key).first()
    if row is not None and row.created_at < _expired_before():
        BatchKey.objects.filter(pk=row.pk, created_at=row.created_at).delete()
        return None
    return row


def check_batch(row: BatchKey, sent_hash: str) -> None:
    """Raise ``Mismatch`` unless the batch hashed ``sent_hash`` is a replay of ``row``'s."""
    if row.request_hash != sent_hash:
        raise Mismatch(row.key, [])


def claim_batch(tenant_id: int, key: str, sent_hash: str) -> BatchKey:
    """Insert ``key``'s row in the caller's transaction (before its tasks); ``KeyTaken`` if another
    request holds it. On MariaDB the insert waits for a concurrent holder's commit or rollback."""
    try:
        with transaction.atomic():  # a savepoint: the caller's transaction stays usable to roll back
            return BatchKey.objects.create(tenant_id=tenant_id, key=key, request_hash=sent_hash, status_code=0,
                                           response={}, created_at=clock.now())
    except IntegrityError:
        raise KeyTaken(key) from None


def record_batch(row: BatchKey, status_code: int, body: dict[str, Any]) -> None:
    """Keep the answer of ``row``'s request, in the same transaction as its tasks."""
    row.status_code, row.response = status_code, body
    row.save(update_fields=["status_code", "response"])


def prune_batch_keys(now: datetime, *, batch: int) -> int:
    """Delete batch keys past their retention, ``batch`` rows at a time."""
    cutoff = now - timedelta(seconds=BATCH_KEY_RETENTION_SECONDS)
    total = 0
    while ids := list(BatchKey.objects.filter(created_at__lt=cutoff).order_by("created_at")
                      .values_list("pk", flat=True)[:batch]):
        total += BatchKey.objects.filter(pk__in=ids).delete()[0]
        if len(ids) < batch:
            break
    return total
