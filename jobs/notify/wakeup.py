"""Wake idle workers the moment work arrives, instead of a poll interval later.

With ``REDIS_URL`` an enqueue publishes on a Redis channel every worker process
listens to, on any host. Without Redis (the embedded single-host default) it sends
a datagram to each worker's Unix socket under ``var/run/wakeup``. Workers also poll,
so a lost notification only costs latency, never a task. Code in this process can
follow announcements through the :data:`announced` signal.
"""

import errno
import hashlib
import logging
import socket
from pathlib import Path

import redis
from django.conf import settings
from django.dispatch import Signal

from . import redis as shared_redis

logger = logging.getLogger(__name__)

CHANNEL = "jobs:wakeup"
WORK = b"work"
CANCEL = b"cancel"

#: Sent by :func:`announce` in the announcing process, before delivery, with ``kind`` (WORK or CANCEL).
announced = Signal()


def socket_dir() -> Path:
    return Path(settings.VAR_DIR) / "run" / "wakeup"


def socket_path(worker_id: str) -> Path:
    # AF_UNIX paths are limited to ~108 bytes: name sockets by a short digest.
    return socket_dir() / (hashlib.sha1(worker_id.encode()).hexdigest()[:16] + ".sock")  # noqa: S324


def warn(message: str, exc: BaseException) -> None:
    """Warn that wake-ups are lost (throttled): workers still find work by polling."""
    shared_redis.breaker.warn(logger, message, exc, "; workers fall back to polling")


def announce(kind: bytes = WORK) -> None:
    """Tell every worker process that there is news (new work, or a cancellation)."""
    announced.send(sender=None, kind=kind)
    client = shared_redis.client()
    if client is not None:
        # While the breaker is open, enqueues do not wait on Redis: workers poll meanwhile.
        if not shared_redis.breaker.usable():
            return
        try:
            client.publish(CHANNEL, kind)
        except redis.RedisError as exc:
            shared_redis.breaker.failed()
            warn("wake-up publish failed", exc)
            return
        shared_redis.breaker.succeeded()
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

