"""HTTP/1.1 requests to the topology's nginx or one of its web instances, on 127.0.0.1, and waiting on them."""

import http.client
import json
import time
from collections.abc import Mapping
from typing import Any

from .config import TopologyError


def http_request(port: int, method: str, path: str, body: Any = None, headers: Mapping[str, str] | None = None,
                 timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request to 127.0.0.1:port; a JSON body for anything but bytes/str."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data: bytes | None
        hdrs = dict(headers or {})
        if body is None:
            data = None
        elif isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def poll(predicate: Any, timeout: float, what: str, interval: float = 0.2) -> Any:
    """Call ``predicate`` until it is truthy (a refused connection counts as not yet); its value."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except (OSError, http.client.HTTPException):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise TopologyError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
