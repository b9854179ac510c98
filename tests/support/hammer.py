"""Concurrent API requests: threads, each with its own client and database connection, released at once."""

import json
import threading
from typing import Any

from django.test import Client

from .threads import together


def hammer(raw_key: str, path: str, body: Any, rounds: int, threads: int,
           headers: dict[str, str] | None = None) -> list[tuple[int, Any]]:
    """``threads`` clients POST ``body`` (a value, or ``body(thread, round)``) ``rounds`` times each, all
    released at once, with ``headers`` besides the key; the (status, response) pairs."""
    results: list[tuple[int, Any]] = []
    lock = threading.Lock()

    def run(n: int) -> None:
        client = Client(headers={**(headers or {}), "X-API-Key": raw_key})
        for r in range(rounds):
            payload = json.dumps(body(n, r) if callable(body) else body)
            response = client.post(path, payload, content_type="application/json")
            with lock:
                results.append((response.status_code, response))

    together(threads, run, timeout=120)
    assert len(results) == rounds * threads
    return results
