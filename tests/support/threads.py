"""Work on several threads at once, each with its own database connection (closed at its end)."""

import threading
from collections.abc import Callable

from django.db import connections


def together(count: int, work: Callable[[int], object], *, timeout: float = 300) -> None:
    """Run ``work(i)`` for i in 0..count-1, one thread each, all released at once; fail with the
    first error any of them raised (a thread still running after ``timeout`` is a failure too)."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=60)
            work(i)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
            barrier.abort()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(t.is_alive() for t in threads), "a thread did not finish in time"
    assert not errors, errors[:1]
