"""The synchronous client. Each method sends one of ``operations``' calls; ``AsyncClient`` (``aio``) is the
same methods awaited."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import httpx

from . import operations as ops
from ._core import Call, RetryPolicy, http_settings, with_read
from .events import PATH, EventStream
from .models import BatchCreated, Event, Task, TaskDetail, TaskPage, TaskSubmitted


class Client:
    """``Client("https://jobs.example.com", "jek_…")``; use it as a context manager, or ``close()`` it.

    ``retry_policy`` says when a request is sent again (``RetryPolicy``: 429/503 honouring ``Retry-After``,
    connection errors, with back-off); ``RetryPolicy(max_retries=0)`` turns that off.
    """

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0,
                 retry_policy: RetryPolicy | None = None, transport: httpx.BaseTransport | None = None) -> None:
        settings = http_settings(base_url, api_key, timeout)
        self.retry_policy = retry_policy or RetryPolicy()
        self._timeout: httpx.Timeout = settings["timeout"]
        self._http = httpx.Client(transport=transport, **settings)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- tasks ----------------------------------------------------------------------------------------------
    def submit(self, type: str, payload: Mapping[str, Any] | None = None, **options: Any) -> TaskSubmitted:
        """Submit a task (``options``: priority, delay_seconds, run_at, queue, idempotency_key, … of
        ``POST /api/tasks``). Without ``idempotency_key`` one is made up, the same for every resend."""
        return self._send(ops.submit(type, payload, options))

    def submit_batch(self, tasks: Iterable[Mapping[str, Any]]) -> BatchCreated:
        """Submit up to 1,000 task specs at once (all or nothing); ``ids[i]`` answers ``tasks[i]``."""
        return self._send(ops.submit_batch(tasks))

    def get(self, task_id: int, *, all: bool = False) -> TaskDetail:
        return self._send(ops.get(task_id, all=all))

    def cancel(self, task_id: int, *, all: bool = False) -> Task:
        return self._send(ops.cancel(task_id, all=all))

    def retry(self, task_id: int, *, all: bool = False) -> Task:
        """Requeue a failed or cancelled task (``Conflict`` otherwise)."""
        return self._send(ops.retry(task_id, all=all))

    def wait(self, task_id: int, timeout: float = 60.0, *, poll: float = 0.5, all: bool = False) -> TaskDetail:
        """The task once finished (completed, failed or cancelled); ``WaitTimeout`` after ``timeout`` s."""
        waiter = ops.Waiter(task_id, timeout, poll, all)
        while True:
            task = self._send(waiter.next_call())
            pause = waiter.pause_after(task)
            if pause is None:
                return task
            time.sleep(pause)

    def list(self, **filters: Any) -> TaskPage:
        """One page of ``GET /api/tasks`` (``page``, ``page_size``, ``status=["failed", …]``, ``type``, …)."""
        return self._send(ops.list_page(filters))

    def iter_tasks(self, **filters: Any) -> Iterator[Task]:
        """Every task matching ``filters``, newest first (``order="asc"``: oldest first), following the
        cursor pages to the end."""
        pager = ops.Pager(filters)
        while (call := pager.next_call()) is not None:
            yield from pager.take(self._send(call))

    # -- events ---------------------------------------------------------------------------------------------
    def events(self, *, last_event_id: int | None = None, all: bool = False, max_reconnects: int | None = None,
               read_timeout: float = 60.0, **filters: Any) -> Iterator[Event]:
        """The tenant's task changes as they happen, reconnecting (from the last id seen) when a connection
        drops; a change is handed over once. On an event with ``is_reset``, reload what you show.

        ``read_timeout`` (seconds without a byte, heartbeats included) counts the connection as dropped;
        ``filters`` are sent as the stream's query parameters (the server's filters, docs/API.md).
        """
        stream = EventStream(last_event_id, all, max_reconnects, filters)
        timeout = with_read(self._timeout, read_timeout)
        while True:
            error: Exception | None = None
            try:
                with self._http.stream("GET", PATH, timeout=timeout, **stream.request_args()) as response:
                    if response.is_error:
                        response.read()
                        delay = stream.after_refusal(self.retry_policy, response)
                    else:
                        stream.connected()
                        for line in response.iter_lines():
                            if (event := stream.feed(line)) is not None:
                                yield event
                        delay = stream.after_drop(self.retry_policy, None)
            except httpx.TransportError as exc:
                error = exc
            if error is not None:
                delay = stream.after_drop(self.retry_policy, error)
            time.sleep(delay)

    # -- sending --------------------------------------------------------------------------------------------
    def _send[T](self, call: Call[T]) -> T:
        attempt = 0
        while True:
            try:
                response = self._http.request(call.method, call.path, **call.send_args(self._timeout))
            except httpx.TransportError as exc:
                delay = self.retry_policy.after_error(attempt, exc, call.replayable)
                if delay is None:
                    raise
            else:
                delay = self.retry_policy.after_response(attempt, response)
                if delay is None:
                    return call.parse(response)
            attempt += 1
            time.sleep(delay)
