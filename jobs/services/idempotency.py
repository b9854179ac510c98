"""Idempotency keys as Stripe has them: a key replays its first request, and only that request.

The first request with a key stores ``Task.request_hash``, the SHA-256 of its spec as sent
(canonical JSON: sorted keys, compact; the key itself left out, so the header and the body
field hash alike). A replay with the same hash answers with the original task; one with
another body is refused (``Mismatch``: a 409), since answering with a task that is not the one
asked for would hide the client's bug. Tasks stored before the hash existed (NULL) replay as
they always did. Keys live as long as their task's row.
"""

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from ..models import Task

__all__ = ["COMPARED", "Mismatch", "check", "differing", "replays", "request_hash"]

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
