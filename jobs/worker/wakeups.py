"""Receive wake-up announcements in a worker process (the sending side is ``jobs.notify.wakeup``)."""

import socket
import threading
from collections.abc import Callable

import redis
from django.conf import settings

from ..notify import redis as shared_redis
from ..notify.wakeup import CHANNEL, WORK, socket_path, warn


class WakeupListener(threading.Thread):
    """Receive announcements in a worker process and hand them to ``on_message``."""

    def __init__(self, worker_id: str, on_message: Callable[[bytes], None], stop: threading.Event) -> None:
        super().__init__(name="wakeup", daemon=True)
        self.worker_id = worker_id
        self.on_message = on_message
        self.stop_event = stop
        self.ready = threading.Event()

    def run(self) -> None:
        if settings.REDIS_URL:
            self._run_redis()
        else:
            self._run_socket()

    def _run_redis(self) -> None:
        delay = 0.5
        while not self.stop_event.is_set():
            try:
                # Pub/sub takes a dedicated connection of the shared pool while subscribed.
                client = shared_redis.client()
                if client is None:  # REDIS_URL was unset meanwhile: nothing to listen to
                    return
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(CHANNEL)
                self.ready.set()
                delay = 0.5
                # A reconnect may have missed announcements: look once for work.
                self.on_message(WORK)
                while not self.stop_event.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message and message.get("type") == "message":
                        self.on_message(bytes(message["data"]))
                pubsub.close()
                client.close()
            except (redis.RedisError, OSError) as exc:
                warn("wake-up listener lost Redis", exc)
                self.ready.set()
                self.stop_event.wait(delay)
                delay = min(delay * 2, 10.0)

    def _run_socket(self) -> None:
        path = socket_path(self.worker_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(str(path))
            sock.settimeout(1.0)
            self.ready.set()
            while not self.stop_event.is_set():
                try:
                    data = sock.recv(64)
                except TimeoutError:
                    continue
                self.on_message(data)
        finally:
            sock.close()
            path.unlink(missing_ok=True)
            self.ready.set()
