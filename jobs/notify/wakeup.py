"""Wake idle workers the moment work arrives, instead of a poll interval later.

With ``REDIS_URL`` an enqueue publishes on a Redis channel every worker process
listens to, on any host. Without Redis (the embedded single-host default) it sends
a datagram to each worker's Unix socket under ``var/run/wakeup``. Workers also poll,
so a lost notification only costs latency, never a task.
"""

import errno
import hashlib
import logging
import socket
import time
from collections.abc import Callable
from pathlib import Path

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

CHANNEL = "jobs:wakeup"
WORK = b"work"
CANCEL = b"cancel"

_redis_client: redis.Redis | None = None
_redis_url: str | None = None
_last_warning = 0.0
#: After a failed publish, skip Redis until then (monotonic): enqueues must not wait on it.
_redis_down_until = 0.0
#: Seconds publishing pauses after Redis failed.
REDIS_RETRY_SECONDS = 5.0
_local_hooks: list[Callable[[bytes], None]] = []


def redis_client() -> redis.Redis | None:
    """This process's shared client for ``REDIS_URL`` (``None`` without Redis)."""
    global _redis_client, _redis_url
    url = settings.REDIS_URL
    if not url:
        return None
    if _redis_client is None or _redis_url != url:
        _redis_client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        _redis_url = url
    return _redis_client


def socket_dir() -> Path:
    return Path(settings.VAR_DIR) / "run" / "wakeup"


def socket_path(worker_id: str) -> Path:
    # AF_UNIX paths are limited to ~108 bytes: name sockets by a short digest.
    return socket_dir() / (hashlib.sha1(worker_id.encode()).hexdigest()[:16] + ".sock")  # noqa: S324


def warn(message: str, exc: BaseException) -> None:
    global _last_warning
    now = time.monotonic()
    if now - _last_warning > 30:
        _last_warning = now
        logger.warning("%s (%s); workers fall back to polling", message, exc)


def announce(kind: bytes = WORK) -> None:
    """Tell every worker process that there is news (new work, or a cancellation)."""
    for hook in list(_local_hooks):
        hook(kind)
    global _redis_down_until
    client = redis_client()
    if client is not None:
        if time.monotonic() < _redis_down_until:
            return
        try:
            client.publish(CHANNEL, kind)
        except redis.RedisError as exc:
            _redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
            warn("wake-up publish failed", exc)
        return
    directory = socket_dir()
    if not directory.is_dir():
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        for path in directory.glob("*.sock"):
            try:
                sock.sendto(kind, str(path))
            except OSError as exc:
                if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
                    path.unlink(missing_ok=True)  # left behind by a killed process
                # EAGAIN: that worker already has wake-ups queued; one is enough.


def add_local_hook(hook: Callable[[bytes], None]) -> None:
    """Also deliver announcements to ``hook`` in this process (same-process workers, tests)."""
    _local_hooks.append(hook)


def remove_local_hook(hook: Callable[[bytes], None]) -> None:
    if hook in _local_hooks:
        _local_hooks.remove(hook)
