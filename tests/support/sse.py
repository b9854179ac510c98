"""A streaming SSE client over a raw socket, and plain requests to a test daphne."""

import http.client
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

from tests.support.waiting import wait_for

#: Changes of a task that runs once and succeeds.
LIFECYCLE = ("task.created", "task.started", "task.completed")


def request(port: int, path: str, headers: dict[str, str] | None = None, *, method: str = "GET",
            body: str | None = None, cookies: SimpleCookie | None = None) -> tuple[int, dict[str, str], bytes]:
    """One plain request; Set-Cookie headers land in ``cookies``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        if cookies is not None:
            for name, value in resp.getheaders():
                if name.lower() == "set-cookie":
                    cookies.load(value)
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def log_in_through_daphne(port: int, username: str, password: str) -> str:
    """Log in with the admin's login form, served by daphne; return the session cookie."""
    jar: SimpleCookie = SimpleCookie()
    status, _, page = request(port, "/admin/login/", cookies=jar)
    assert status == 200, page[:500]
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token, "the login form has a CSRF token"
    form = urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token.group(1).decode(),
                      "next": "/admin/"})
    status, _, page = request(
        port, "/admin/login/", method="POST", body=form, cookies=jar,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={jar['csrftoken'].value}"},
    )
    assert status == 302, page[:500]
    return jar["sessionid"].value



@dataclass
class Message:
    id: int | None = None
    event: str | None = None
    data: str | None = None
    comments: list[str] = field(default_factory=list)
    at: float = 0.0

    def json(self) -> Any:
        return json.loads(self.data or "null")


class Stream:
    """A streaming HTTP/1.1 client over a raw socket: reads (chunked) SSE on a thread, never blocks a test."""

    def __init__(self, port: int, path: str, headers: dict[str, str] | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Accept: text/event-stream"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.sock.settimeout(0.5)
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.messages: list[Message] = []
        self.ended = False
        self.error: BaseException | None = None
        self._closing = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _recv(self) -> bytes:
        while not self._closing:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                raise EOFError
            return data
        raise EOFError

    def _run(self) -> None:
        buf = b""
        try:
            while b"\r\n\r\n" not in buf:
                buf += self._recv()
            head, buf = buf.split(b"\r\n\r\n", 1)
            status_line, *header_lines = head.decode("latin-1").split("\r\n")
            self.headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
            self.status = int(status_line.split()[1])
            text = ""
            chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"
            while True:
                if chunked:
                    while b"\r\n" not in buf:
                        buf += self._recv()
                    size_line, buf = buf.split(b"\r\n", 1)
                    size = int(size_line.split(b";")[0], 16)
                    if size == 0:
                        break
                    while len(buf) < size + 2:
                        buf += self._recv()
                    data, buf = buf[:size], buf[size + 2:]
                else:
                    data, buf = buf + self._recv(), b""
                text += data.decode()
                while "\n\n" in text:
                    block, text = text.split("\n\n", 1)
                    self._parse(block)
        except EOFError:
            pass
        except BaseException as exc:
            self.error = exc
        finally:
            self.ended = True

    def _parse(self, block: str) -> None:
        msg = Message(at=time.monotonic())
        data = []
        for line in block.split("\n"):
            if line.startswith(":"):
                msg.comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "id":
                msg.id = int(value)
            elif name == "event":
                msg.event = value
            elif name == "data":
                data.append(value)
        msg.data = "\n".join(data) if data else None
        with self._lock:
            self.messages.append(msg)

    def snapshot(self) -> list[Message]:
        with self._lock:
            return list(self.messages)

    def events(self, name: str = "tasks") -> list[Message]:
        return [m for m in self.snapshot() if m.event == name]

    def changes(self) -> list[tuple[int, str, dict[str, Any]]]:
        """(seq, tenant, change) for every change received."""
        out = []
        for m in self.events("tasks"):
            body = m.json()
            out += [(body["seq"], body["tenant"], c) for c in body["changes"]]
        return out

    def last_id(self) -> int:
        ids = [m.id for m in self.snapshot() if m.id is not None]
        assert ids, "no id: received"
        return ids[-1]

    def wait(self, predicate: Callable[["Stream"], Any], timeout: float = 60, what: str = "messages") -> Any:
        def check() -> Any:
            if self.error:
                raise self.error
            return predicate(self)

        return wait_for(check, timeout=timeout, interval=0.05, what=what)

    def close(self) -> None:
        self._closing = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self._thread.join(10)



def events_of(stream: Stream, task_ids: set[int]) -> set[tuple[int, str]]:
    return {(c["task"], c["event"]) for _, _, c in stream.changes() if c.get("task") in task_ids}

def run_burst(workers: Any) -> None:
    proc = workers.start("--processes", "1", "--threads", "2", "--burst")
    assert proc.wait(timeout=120) == 0, workers.log(len(workers.procs) - 1)

