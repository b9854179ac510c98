"""The engine's web tier (``manage.py serve``, what production runs) and the HTTP load the benchmark puts on it."""

import asyncio
import time
from typing import Any

import httpx

from deploy.procs import free_port, web_argv
from jobs.management.commands.serve import default_workers

from .progress import Progress
from .runtime import ENGINE_SETTINGS, Bench, BenchError, latency_summary

#: Web processes ``serve`` runs in the benchmark: its default, one per core.
WEB_WORKERS = default_workers()


def start_web(bench: Bench) -> tuple[Any, str]:
    """Start ``manage.py serve`` on a free port; return its master and its base URL once it answers."""
    port = free_port()
    proc = bench.spawn("serve", web_argv(port, workers=WEB_WORKERS), settings=ENGINE_SETTINGS)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise BenchError(f"serve exited with {proc.returncode}:\n{bench.log_tail(proc)}")
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            bench.stop(proc)
            raise BenchError(f"serve did not answer within 60s:\n{bench.log_tail(proc)}")
        time.sleep(0.1)


async def send_many(url: str, path: str, requests: int, concurrency: int, bar: Progress, *,
                    body: Any = None, key: str | None = None, per_body: int = 1) -> dict[str, Any]:
    """``requests`` requests to ``path`` by ``concurrency`` clients: a POST of ``body``, or a GET without one."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    next_index = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"X-API-Key": key} if key else {}
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=120) as client:

        async def worker() -> None:
            nonlocal next_index
            while next_index < requests:
                next_index += 1
                t0 = time.perf_counter()
                response = await (client.get(path) if body is None else client.post(path, json=body))
                latencies.append((time.perf_counter() - t0) * 1000)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                bar.update(len(latencies) * per_body)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return {"elapsed_s": elapsed, "latencies": latencies, "statuses": statuses}


def post_load(bench: Bench, url: str, key: str, *, path: str, requests: int, body: Any, concurrency: int,
              per_body: int, label: str) -> dict[str, Any]:
    """``requests`` POSTs of ``body`` by ``concurrency`` clients; requests/s, tasks/s and latency."""
    with Progress(label, requests * per_body, stream=bench.stderr) as bar:
        raw = asyncio.run(send_many(url, path, requests, concurrency, bar, body=body, key=key, per_body=per_body))
    elapsed = raw["elapsed_s"]
    ok = raw["statuses"].get(201, 0)
    return {
        "requests": requests,
        "concurrency": concurrency,
        "tasks_per_request": per_body,
        "seconds": round(elapsed, 3),
        "requests_per_s": round(requests / elapsed, 1),
        "tasks_per_s": round(ok * per_body / elapsed, 1),
        "statuses": {str(k): v for k, v in sorted(raw["statuses"].items())},
        "created": ok * per_body,
        "latency": latency_summary(raw["latencies"]),
    }


def get_samples(url: str, path: str, *, samples: int, headers: dict[str, str] | None = None,
                cookies: dict[str, str] | None = None, warmup: int = 2) -> dict[str, Any]:
    """``samples`` sequential GETs of ``path`` (after ``warmup`` unmeasured ones); latency figures."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    size = 0
    with httpx.Client(base_url=url, headers=headers or {}, cookies=cookies or {}, timeout=120) as client:
        for i in range(warmup + samples):
            t0 = time.perf_counter()
            response = client.get(path)
            ms = (time.perf_counter() - t0) * 1000
            if i >= warmup:
                latencies.append(ms)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                size = len(response.content)
    return {"path": path, "statuses": {str(k): v for k, v in statuses.items()}, "bytes": size,
            **latency_summary(latencies)}


def staff_session() -> dict[str, str]:
    """A logged-in staff session for the console pages (written straight to the session store)."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model

    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench-password-unused")
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    assert session.session_key is not None  # noqa: S101 — saved just above
    return {settings.SESSION_COOKIE_NAME: session.session_key}
