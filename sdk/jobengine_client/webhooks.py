"""Verifying a webhook delivery's ``Webhook-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>``.

The signed text is ``"<t>.<raw body>"``: verify the body exactly as received (bytes), before parsing it.
Several ``v1`` values may be present (a secret being rotated): one matching is enough.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from .errors import InvalidSignature


def sign(secret: str | bytes, body: str | bytes, timestamp: int) -> str:
    """The header value the server sends for ``body`` at ``timestamp`` (for tests of a receiver)."""
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def verify_signature(secret: str | bytes, header: str | None, body: str | bytes, tolerance: float = 300,
                     now: float | None = None) -> int:
    """Check ``header`` against ``body``; return its timestamp. Raises ``InvalidSignature``.

    ``tolerance`` bounds how far (seconds, either way) the timestamp may be from ``now`` (default: this
    host's clock), so a captured delivery cannot be replayed later; 0 or less turns the check off.
    """
    if not header:
        raise InvalidSignature("no Webhook-Signature header")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if name == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise InvalidSignature(f"the timestamp is not an integer: {value!r}") from None
        elif name == "v1":
            signatures.append(value.strip())
    if timestamp is None:
        raise InvalidSignature("the header has no t= timestamp")
    if not signatures:
        raise InvalidSignature("the header has no v1= signature")
    current = time.time() if now is None else now
    if tolerance > 0 and abs(current - timestamp) > tolerance:
        raise InvalidSignature(f"the timestamp is {current - timestamp:.0f} s from now (tolerance {tolerance:g} s)")
    expected = _digest(secret, timestamp, body)
    # compare_digest for every candidate: the time taken says nothing about how much of one matched.
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise InvalidSignature("no v1 signature matches the body")
    return timestamp


def _digest(secret: str | bytes, timestamp: int, body: str | bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    raw = body.encode() if isinstance(body, str) else body
    return hmac.new(key, f"{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()
