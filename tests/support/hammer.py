"""Concurrent API requests: threads, each with its own client and database connection, released at once."""

import json
import threading
from typing import Any

from django.db import connections
from django.test import Client


def hammer(raw_key: str, path: str, body: Any, rounds: int, threads: int) -> list[tuple[int, Any]]:
    """``threads`` clients POST ``body`` (a value, or ``body(thread, round)``) ``rounds`` times each, all
    released at once; the (status, response) pairs."""
    barrier = threading.Barrier(threads)
    results: list[tuple[int, Any]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(n: int) -> None:
        client = Client(headers={"X-API-Key": raw_key})
        try:
            barrier.wait(timeout=30)
            for r in range(rounds):
                payload = json.dumps(body(n, r) if callable(body) else body)
                response = client.post(path, payload, content_type="application/json")
                with lock:
                    results.append((response.status_code, response))
        except BaseException as exc:
            with lock:
                errors.append(exc)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not any(w.is_alive() for w in workers)
    assert not errors, errors
    assert len(results) == rounds * threads
    return results
