"""The drain of N no-op tasks, for each system: enqueue first, then time the workers.

Timing is the same for every system: from the moment its worker processes are started
until the benchmark sees the N-th task done (polled every 50 ms: completed rows for
the two database systems, the Redis counter for Celery). Process start-up is therefore
included; the time to the first completion (as the poller saw it) is reported beside it, and
for the two database systems the time to the first start: the earliest ``started_at`` of the
drained rows (written by the worker as it hands a claimed task to a thread) minus the moment
the worker processes were spawned.
"""

import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .memory import MemoryWatch
from .progress import Progress
from .runtime import BENCH_SETTINGS, ENGINE_SETTINGS, Bench, BenchError
from .startup import worker_startup

NOOP = {"type": "noop"}
BATCH = 1000


def drain_timeout(n: int) -> float:
    return max(300.0, n / 20)


def enqueue_engine(bench: Bench, tenant: Any, n: int, *, label: str = "enqueue (engine)",
                   spec: Callable[[int], dict[str, Any]] | None = None) -> float:
    """Enqueue ``n`` no-ops (``spec(i)`` gives the i-th task's spec when set)."""
    from jobs.services.enqueue import enqueue_many

    start = time.monotonic()
    with Progress(label, n, stream=bench.stderr) as bar:
        for offset in range(0, n, BATCH):
            size = min(BATCH, n - offset)
            enqueue_many([spec(i) for i in range(offset, offset + size)] if spec else [NOOP] * size, tenant=tenant)
            bar.update(offset + size)
    return time.monotonic() - start


def engine_counts() -> dict[str, int]:
    from django.db.models import Count

    from jobs.models import Task

    return dict(Task.objects.values_list("status").annotate(n=Count("id")).order_by())


def engine_completed() -> int:
    from jobs.lifecycle import Status
    from jobs.models import Task

    return Task.objects.filter(status=Status.COMPLETED).count()


def engine_done_counter() -> Callable[[], int]:
    """Tasks completed from now on, read from the throughput rollup (written in the same transaction
    as each completion): a few rows per poll, where counting ``completed`` rows would read them all."""
    from datetime import timedelta

    from django.db.models import Sum
    from django.utils import timezone

    from jobs.models import ThroughputBucket

    recent = ThroughputBucket.objects.filter(bucket__gte=timezone.now() - timedelta(minutes=1))

    def total() -> int:
        return int(recent.aggregate(n=Sum("completed"))["n"] or 0)

    baseline = total()
    return lambda: total() - baseline


def first_start_s(model: Any, spawned: datetime) -> float | None:
    """Seconds from ``spawned`` to the first ``started_at`` after it among ``model``'s rows."""
    from django.db.models import Min

    first = model.objects.filter(started_at__gte=spawned).aggregate(t=Min("started_at"))["t"]
    return round((first - spawned).total_seconds(), 3) if first else None


def _figures(system: str, n: int, times: dict[str, float], *, processes: int, threads: int | None, pool: str,
             cpu: dict[str, Any], memory: MemoryWatch, completed: int, extra: dict[str, Any] | None = None,
             ) -> dict[str, Any]:
    seconds = times["end"] - times["start"]
    steady = times["end"] - times["first"]
    return {
        "system": system,
        "tasks": n,
        "completed": completed,
        "exact": completed == n,
        "processes": processes,
        "threads": threads,
        "pool": pool,
        "seconds": round(seconds, 3),
        "tasks_per_s": round(n / seconds, 1) if seconds > 0 else None,
        "first_done_s": round(times["first"] - times["start"], 3),
        "steady_tasks_per_s": round(n / steady, 1) if steady > 0 else None,
        "cpu": cpu,
        "memory": memory.summary(),
        **(extra or {}),
    }


def drain_engine(bench: Bench, n: int, *, processes: int, threads: int, tenant: Any = None,
                 enqueue: bool = True, label: str = "engine",
                 spec: Callable[[int], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Enqueue ``n`` no-ops (unless already queued) and drain them with ``runworkers --burst``.

    Rows already finished (the big table) stay as they are; the drain is over when every
    task that was pending has completed.
    """
    from jobs.models import Task

    if enqueue:
        tenant = tenant or bench.tenant("bench")
        enqueue_engine(bench, tenant, n, spec=spec)
    before_counts = engine_counts()
    total = before_counts.get("pending", 0)
    already = before_counts.get("completed", 0)
    memory = MemoryWatch()
    done = engine_done_counter()
    db_before = bench.db_status()
    before = bench.cpu()
    spawned = datetime.now(UTC)
    proc = bench.manage(f"runworkers-{label}", "runworkers", "--processes", str(processes),
                        "--threads", str(threads), "--burst", settings=ENGINE_SETTINGS)
    times = bench.watch(f"drain {label} ({processes}×{threads})", total, done, [proc],
                        timeout=drain_timeout(total), memory=memory)
    code = bench.wait_exit(proc, 120, "runworkers --burst")
    exited = time.monotonic()
    after = bench.cpu()
    db = bench.db_per_task(db_before, bench.db_status(), total)
    if code != 0:
        raise BenchError(f"runworkers --burst exited with {code}:\n{bench.log_tail(proc)}")
    counts = engine_counts()
    completed = counts.get("completed", 0) - already
    expected = {**before_counts, "completed": already + total}
    expected.pop("pending", None)
    if counts != expected:
        raise BenchError(f"{label}: expected {expected} after the drain, found {counts}")
    return _figures(label, total, times, processes=processes, threads=threads, pool="runworkers (threads)",
                    cpu=bench.cpu_used(before, after, label="workers"), memory=memory, completed=completed,
                    extra={"burst_exit_s": round(exited - times["start"], 3), "db": db,
                           "first_start_s": first_start_s(Task, spawned),
                           "startup": worker_startup(bench.logs.get(proc.pid))})


# -- django-tasks-db ---------------------------------------------------------------------------


def enqueue_dtdb(bench: Bench, n: int) -> float:
    """Insert ``n`` ready rows exactly as ``noop.enqueue()`` would, in bulk (enqueueing is not timed)."""
    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult, get_date_max

    from .peers.dtdb_tasks import noop

    start = time.monotonic()
    with Progress("enqueue (django-tasks-db)", n, stream=bench.stderr) as bar:
        for offset in range(0, n, BATCH):
            size = min(BATCH, n - offset)
            now = timezone.now()
            DBTaskResult.objects.bulk_create(
                DBTaskResult(
                    id=uuid.uuid4(), args_kwargs={"args": [], "kwargs": {}}, priority=noop.priority,
                    task_path=noop.module_path, queue_name=noop.queue_name, run_after=get_date_max(),
                    backend_name="default", enqueued_at=now,
                )
                for _ in range(size)
            )
            bar.update(offset + size)
    return time.monotonic() - start


def dtdb_done() -> int:
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.successful().count()


def drain_dtdb(bench: Bench, n: int, *, processes: int) -> dict[str, Any]:
    from django_tasks_db.models import DBTaskResult

    enqueue_dtdb(bench, n)
    memory = MemoryWatch()
    db_before = bench.db_status()
    before = bench.cpu()
    spawned = datetime.now(UTC)
    procs = [
        bench.manage(f"db_worker-{i}", "db_worker", "--batch", "--no-startup-delay", "--interval", "0.1",
                     "--no-reload", "--worker-id", f"bench-{i}", "-v", "0", settings=BENCH_SETTINGS)
        for i in range(processes)
    ]
    try:
        times = bench.watch(f"drain django-tasks-db ({processes}×1)", n, dtdb_done, procs,
                            timeout=drain_timeout(n), memory=memory, solo=True)
    finally:
        for proc in procs:
            if proc.poll() is None:
                bench.wait_exit(proc, 60, "db_worker --batch")
    after = bench.cpu()
    db = bench.db_per_task(db_before, bench.db_status(), n)
    done = dtdb_done()
    left = DBTaskResult.objects.exclude(status="SUCCESSFUL").count()
    if done != n or left:
        raise BenchError(f"django-tasks-db: {done} successful, {left} other rows (expected {n} successful)")
    return _figures("django-tasks-db", n, times, processes=processes, threads=1, pool="db_worker (1 task at a time)",
                    cpu=bench.cpu_used(before, after, label="workers"), memory=memory, completed=done,
                    extra={"db": db, "first_start_s": first_start_s(DBTaskResult, spawned)})


# -- Celery ------------------------------------------------------------------------------------


def enqueue_celery(bench: Bench, n: int) -> float:
    from .peers.celery_app import app, noop

    start = time.monotonic()
    with Progress("enqueue (celery)", n, stream=bench.stderr) as bar, app.producer_or_acquire() as producer:
        for i in range(n):
            noop.apply_async(producer=producer)
            if i % 500 == 0:
                bar.update(i)
        bar.update(n)
    return time.monotonic() - start


def drain_celery(bench: Bench, n: int, *, processes: int, threads: int, pool: str) -> dict[str, Any]:
    """``prefork``: one worker with ``processes`` pool processes; ``threads``: ``processes`` workers × ``threads``."""
    from .peers.celery_app import DONE_KEY, QUEUE

    redis = bench.redis()
    enqueue_celery(bench, n)
    if redis.llen(QUEUE) != n:
        raise BenchError(f"celery: {redis.llen(QUEUE)} messages queued, expected {n}")
    common = ["-Q", QUEUE, "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"]
    base = [sys.executable, "-m", "celery", "-A", "bench.peers.celery_app", "worker"]
    if pool == "prefork":
        workers = [bench.spawn("celery-prefork", [*base, "-P", "prefork", "-c", str(processes),
                                                  "-n", "bench0@%h", *common], settings=BENCH_SETTINGS)]
        label, per, solo = f"celery prefork ({processes})", 1, False
    else:
        workers = [bench.spawn(f"celery-threads-{i}", [*base, "-P", "threads", "-c", str(threads),
                                                       "-n", f"bench{i}@%h", *common], settings=BENCH_SETTINGS)
                   for i in range(processes)]
        label, per, solo = f"celery threads ({processes}×{threads})", threads, True
    memory = MemoryWatch()
    before = bench.cpu()

    def done() -> int:
        return int(redis.get(DONE_KEY) or 0)

    try:
        times = bench.watch(f"drain {label}", n, done, workers, timeout=drain_timeout(n), memory=memory, solo=solo)
    finally:
        for proc in workers:
            bench.stop(proc)
    after = bench.cpu()
    completed = done()
    if completed != n or redis.llen(QUEUE):
        raise BenchError(f"celery: {completed} tasks ran, {redis.llen(QUEUE)} still queued (expected {n} ran)")
    return _figures(f"celery-{pool}", n, times, processes=processes, threads=per,
                    pool=f"celery -P {pool}", cpu=bench.cpu_used(before, after, label="workers"),
                    memory=memory, completed=completed)


def start_engine(bench: Bench, *, processes: int, threads: int, label: str = "engine") -> Any:
    """Start ``runworkers`` (no burst) and return once every worker process has registered."""
    proc = bench.manage(f"runworkers-{label}", "runworkers", "--processes", str(processes),
                        "--threads", str(threads), settings=ENGINE_SETTINGS)
    await_registered(bench, [proc], processes)
    return proc


def await_registered(bench: Bench, procs: list[Any], expected: int, *, since: datetime | None = None) -> None:
    """Return once ``expected`` worker processes (started after ``since``) run; a supervisor of ``procs``
    that exits, or 60 s without them, is an error (and stops them all)."""
    from jobs.models import WorkerProcess

    running = WorkerProcess.objects.filter(state="running")
    if since is not None:
        running = running.filter(started_at__gte=since)
    deadline = time.monotonic() + 60
    while running.count() < expected:
        dead = [p for p in procs if p.poll() is not None]
        if dead:
            raise BenchError(f"runworkers exited with {dead[0].returncode}:\n{bench.log_tail(dead[0])}")
        if time.monotonic() > deadline:
            for proc in procs:
                bench.stop(proc)
            raise BenchError(f"runworkers: {expected} processes did not register within 60s")
        time.sleep(0.05)
    time.sleep(0.5)  # the wake-up listeners subscribe right after registering
