"""Receive wake-up announcements in a worker process (the sending side is ``jobs.notify.wakeup``)."""

import socket
import threading
from collections.abc import Callable
from typing import Any

import redis
from django.conf import settings

from ..conf import conf
from ..notify import redis as shared_redis
from ..notify.wakeup import CHANNEL, WORK, socket_path, warn
from .service import Service


class WakeupListener(Service):
    """Receive announcements (Redis pub/sub, else a Unix datagram socket) and hand them to ``on_message``.

    Once listening it hands over one ``WORK`` of its own: whoever started before it (the
    dispatcher, which need not wait for it) looks once for what was announced meanwhile.
    ``ready`` is set once listening (or given up on: polling covers the gap).
    """

    #: Seconds one receive blocks: how soon a stop is noticed.
    receive_seconds = 1.0

    def __init__(self, worker_id: str, on_message: Callable[[bytes], None]) -> None:
        super().__init__("wakeup")
        c = conf()
        self.worker_id = worker_id
        self.on_message = on_message
        self.ready = threading.Event()
        self.first_retry = c.WAKEUP_RETRY_SECONDS
        self.max_retry = c.WAKEUP_RETRY_MAX_SECONDS
        self.retry = self.first_retry
        self.pubsub: Any = None
        self.sock: socket.socket | None = None

    def setup(self) -> None:
        if not settings.REDIS_URL:
            path = socket_path(self.worker_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.unlink(missing_ok=True)
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.sock.bind(str(path))
            self.sock.settimeout(self.receive_seconds)
            self.ready.set()
            # As after a subscription: what was announced before the bind is lost, look once.
            self.on_message(WORK)

    def step(self) -> float:
        if self.sock is not None:
            try:
                self.on_message(self.sock.recv(64))
            except TimeoutError:
                pass
            return 0.0
        try:
            if self.pubsub is None:
                self._subscribe()
            message = self.pubsub.get_message(timeout=self.receive_seconds)
        except (redis.RedisError, OSError) as exc:
            warn("wake-up listener lost Redis", exc)
            self._unsubscribe()
            self.ready.set()
            delay, self.retry = self.retry, min(self.retry * 2, self.max_retry)
            return delay
        if message and message.get("type") == "message":
            self.on_message(bytes(message["data"]))
        return 0.0

    def _subscribe(self) -> None:
        # Pub/sub takes a dedicated connection of the shared pool while subscribed.
        client = shared_redis.client()
        if client is None:
            raise redis.ConnectionError("REDIS_URL is not set")
        self.pubsub = client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(CHANNEL)
        self.ready.set()
        self.retry = self.first_retry
        # A reconnect may have missed announcements: look once for work.
        self.on_message(WORK)

    def _unsubscribe(self) -> None:
        if self.pubsub is not None:
            pubsub, self.pubsub = self.pubsub, None
            try:
                pubsub.close()
            except (redis.RedisError, OSError):
                pass  # already gone

    def teardown(self) -> None:
        self._unsubscribe()
        if self.sock is not None:
            self.sock.close()
            socket_path(self.worker_id).unlink(missing_ok=True)
        self.ready.set()
