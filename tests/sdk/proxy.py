"""A loopback TCP relay in front of the test server, to break connections the way networks do.

``cut(n)``: the next ``n`` answers are lost — the request reaches the server, which acts on it, and the
client's connection is closed as the first byte of the answer arrives (a timeout after the fact, as a
client sees it). ``drop_all()`` closes every open connection (a stream cut mid-way). ``hold()`` /
``release()``: new connections wait before reaching the server, so what happens meanwhile happens while
the client is disconnected. ``requests`` records the head of every request relayed.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class Relay:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: list[bytes] = []
        self._cut = 0
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._admit = threading.Event()
        self._admit.set()
        threading.Thread(target=self._accept, name="relay-accept", daemon=True).start()

    def cut(self, n: int = 1) -> None:
        with self._lock:
            self._cut += n

    def hold(self) -> None:
        self._admit.clear()

    def release(self) -> None:
        self._admit.set()

    def drop_all(self) -> None:
        with self._lock:
            conns, self._open = self._open, []
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def close(self) -> None:
        self.release()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone would not
        self.listener.close()
        self.drop_all()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(client,), name="relay-conn", daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        self._admit.wait()
        upstream = socket.create_connection(("127.0.0.1", self.target_port))
        with self._lock:
            self._open += [client, upstream]
        threading.Thread(target=self._pump_requests, args=(client, upstream), daemon=True).start()
        self._pump_answers(upstream, client)

    def _pump_requests(self, client: socket.socket, upstream: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := client.recv(65536):
                if chunk[:4] in (b"GET ", b"POST"):
                    self.requests.append(chunk.split(b"\r\n\r\n", 1)[0])
                upstream.sendall(chunk)
        with contextlib.suppress(OSError):
            upstream.shutdown(socket.SHUT_WR)

    def _pump_answers(self, upstream: socket.socket, client: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := upstream.recv(65536):
                with self._lock:
                    cut, self._cut = self._cut > 0, max(0, self._cut - 1)
                if cut:
                    break
                client.sendall(chunk)
        for conn in (client, upstream):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
