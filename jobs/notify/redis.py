"""The process's one Redis client and the one circuit breaker in front of it.

With ``REDIS_URL``, settings put ``CACHES["default"]`` on django-redis; its connection
pool (socket timeouts 2 s, no retries) serves the rate limiter, wake-up publishing, the
wake-up listener and the readiness probe. Without ``REDIS_URL`` :func:`client` is ``None``
and every caller takes its Redis-less path, so the embedded default needs no Redis.

After a failure, :data:`breaker` sends callers to their fallback for ``BREAKER_SECONDS``:
a request or an enqueue must not queue behind a dead server's timeouts.
"""

import logging
import threading
import time
from typing import Any

import redis
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django_redis import get_redis_connection

#: After a Redis failure, skip Redis for this long (then one caller probes it again).
BREAKER_SECONDS = 5.0
#: At most one warning per message per this many seconds.
WARNING_INTERVAL_SECONDS = 30.0


def client() -> redis.Redis | None:
    """The shared client (django-redis's pool of the default cache), or ``None`` without Redis."""
    if not settings.REDIS_URL:
        return None
    return get_redis_connection("default")


class Breaker:
    """Skip Redis for a while after it failed; warn about it at most every so often."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tripped = False
        self.down_until = 0.0
        self.warned: dict[str, float] = {}

    def usable(self) -> bool:
        """Whether this call may try Redis (closed breaker, or the one half-open probe)."""
        with self.lock:
            now = time.monotonic()
            if now < self.down_until:
                return False
            if self.tripped:
                # Half-open: this caller probes; the others keep taking their fallback meanwhile.
                self.down_until = now + BREAKER_SECONDS
            return True

    def succeeded(self) -> None:
        """Close the breaker."""
        if self.tripped:
            with self.lock:
                self.tripped = False
                self.down_until = 0.0

    def failed(self) -> None:
        """Open the breaker for BREAKER_SECONDS."""
        with self.lock:
            self.tripped = True
            self.down_until = time.monotonic() + BREAKER_SECONDS

    def warn(self, logger: logging.Logger, message: str, exc: BaseException, hint: str = "") -> None:
        """Log ``message`` (with ``exc`` and ``hint``), at most once per WARNING_INTERVAL_SECONDS per message."""
        with self.lock:
            now = time.monotonic()
            last = self.warned.get(message)
            if last is not None and now - last < WARNING_INTERVAL_SECONDS:
                return
            self.warned[message] = now
        logger.warning("%s (%s)%s", message, exc, hint)

    def reset(self) -> None:
        """Close the breaker and forget past warnings."""
        with self.lock:
            self.tripped = False
            self.down_until = 0.0
            self.warned.clear()


breaker = Breaker()


def reset() -> None:
    """Forget this process's Redis verdicts (breaker, warnings); used by tests and after settings change."""
    breaker.reset()


@receiver(setting_changed)
def _server_changed(*, setting: str, **_: Any) -> None:
    # A verdict is about one server: another REDIS_URL or CACHES starts with a closed breaker.
    if setting in {"REDIS_URL", "CACHES"}:
        reset()


def health() -> str:
    """Ping Redis now, whatever the breaker says, and tell it: "ok", "not configured" or "error: <kind>"."""
    shared = client()
    if shared is None:
        return "not configured"
    try:
        shared.ping()
    except Exception as exc:  # noqa: BLE001 — any failure means "not ready"
        breaker.failed()
        return f"error: {exc.__class__.__name__}"
    breaker.succeeded()
    return "ok"
