"""Part of 5. fairness: time-fair shares, and a quiet tenant behind a tenant holding long tasks.

* Time-fair shares: two tenants of equal weight, one with a backlog of 1 s tasks (``sleep``),
  one with a backlog of 10 ms tasks (``send_email`` pinned to 10 ms, no failures). For a window
  in which both have work, each one's worker time (handler seconds of the runs started in it,
  clipped at its end), their ratio and Jain's index; once charged by time (the default) and once
  one unit per task (``JOBS_DRR_BY_TIME=0``), which hands the 1 s tenant nearly all of it.
  Handler seconds are the nominal durations: ``finished_at`` is when the completer's batch was
  written, tens of ms late on a busy host, which would count a 10 ms task several times over.
* Quiet behind long tasks: a tenant's backlog of 2 s sleeps holds every slot; a quiet tenant
  then submits no-ops at a steady rate; its queue waits (enqueue → start), with no cap and with
  the holder's ``Tenant.max_running`` at a quarter fewer than the slots.

Figures only: nothing here asserts a time.
"""

import time
from datetime import timedelta
from typing import Any

from ..runtime import ENGINE_SETTINGS, Bench, BenchError, latency_summary, running
from ..trickle import paced_enqueue, queue_waits_ms

LONG_SECONDS, SHORT_MS, HOLD_SECONDS = 1.0, 10, 2.0


def _start(bench: Bench, label: str, env: dict[str, str] | None = None) -> Any:
    """``runworkers`` with extra environment; return once its processes have registered."""
    from jobs.models import WorkerProcess

    o = bench.options
    proc = bench.manage(f"runworkers-{label}", "runworkers", "--processes", str(o.processes),
                        "--threads", str(o.threads), settings=ENGINE_SETTINGS, env=env)
    deadline = time.monotonic() + 60
    while WorkerProcess.objects.filter(state="running").count() < o.processes:
        if proc.poll() is not None or time.monotonic() > deadline:
            bench.stop(proc)
            raise BenchError(f"runworkers ({label}) did not start:\n{bench.log_tail(proc)}")
        time.sleep(0.05)
    return proc


def _enqueue(tenant: Any, spec: dict[str, Any], n: int) -> None:
    from jobs.services.enqueue import enqueue_many

    for offset in range(0, n, 1000):
        enqueue_many([spec] * min(1000, n - offset), tenant=tenant)


def _shares(bench: Bench, *, by_time: bool) -> dict[str, Any]:
    from jobs.lifecycle import Status
    from jobs.models import Task

    from .fairness import jain

    o = bench.options
    warm_up, window = (2.0, 6.0) if o.quick else (3.0, 20.0)
    slots = o.processes * o.threads
    # Enough that neither runs dry in the window, charged either way: per task, the 1 s tenant
    # takes nearly every slot, and while the runs' average is fast (the 10 ms ones) the pool
    # prefetches, so a claim may hoard many 1 s tasks at once.
    long_n = int(slots * (warm_up + window) * 3) + 10
    short_n = int(slots * (warm_up + window) / (SHORT_MS / 1000) * 0.6)
    slow, fast = bench.tenant("long-tasks"), bench.tenant("short-tasks")
    _enqueue(slow, {"type": "sleep", "payload": {"seconds": LONG_SECONDS}}, long_n)
    _enqueue(fast, {"type": "send_email", "payload": {"duration_ms": SHORT_MS, "fail_rate": 0}}, short_n)
    label = "time-fair" if by_time else "per-task"
    bench.say(f"fairness: {label} shares, {long_n:,} × 1 s and {short_n:,} × 10 ms tasks, {window:g} s window")
    proc = _start(bench, label, None if by_time else {"JOBS_DRR_BY_TIME": "0"})
    with running(bench, proc):
        while not Task.objects.filter(started_at__isnull=False).exists():
            time.sleep(0.02)
        first = Task.objects.filter(started_at__isnull=False).order_by("started_at").values_list(
            "started_at", flat=True)[0]
        time.sleep(warm_up + window + 0.5)
        pending = {t.slug: Task.objects.filter(tenant=t, status=Status.PENDING).count() for t in (slow, fast)}
    if first is None:
        raise BenchError("fairness: no start recorded")
    start, end = first + timedelta(seconds=warm_up), first + timedelta(seconds=warm_up + window)
    busy: dict[str, float] = {}
    for tenant, nominal in ((slow, LONG_SECONDS), (fast, SHORT_MS / 1000)):
        began = Task.objects.filter(tenant=tenant, started_at__gte=start, started_at__lt=end).values_list(
            "started_at", flat=True)
        busy[tenant.slug] = sum(min(nominal, (end - b).total_seconds()) for b in began if b is not None)
    total = sum(busy.values())
    share = busy[slow.slug] / total if total else None
    return {
        "charged": "by time" if by_time else "per task",
        "window_s": window, "slots": slots,
        "handler_seconds": {k: round(v, 1) for k, v in busy.items()},
        "slot_use": round(total / (slots * window), 3),
        "long_share": round(share, 3) if share is not None else None,
        "long_to_short": round(busy[slow.slug] / busy[fast.slug], 2) if busy[fast.slug] else None,
        "jain_index": round(j, 4) if (j := jain(list(busy.values()))) is not None else None,
        "pending_at_end": pending,
        "both_had_work": all(pending.values()),
    }


def _behind_long(bench: Bench, *, cap: int | None) -> dict[str, Any]:
    from jobs.models import Task

    o = bench.options
    slots = o.processes * o.threads
    quiet_n, rate = (10, 5.0) if o.quick else (40, 4.0)
    holder, quiet = bench.tenant("holder"), bench.tenant("quiet-behind-long")
    if cap is not None:
        type(holder).objects.filter(pk=holder.pk).update(max_running=cap)
    phase = quiet_n / rate + 2 * HOLD_SECONDS
    _enqueue(holder, {"type": "sleep", "payload": {"seconds": HOLD_SECONDS}}, int(slots * phase / HOLD_SECONDS) + slots)
    label = f"cap {cap}" if cap is not None else "no cap"
    proc = _start(bench, f"behind-long-{label.replace(' ', '-')}")
    with running(bench, proc):
        deadline = time.monotonic() + 30
        while Task.objects.filter(tenant=holder, started_at__isnull=False).count() < (cap or slots):
            if time.monotonic() > deadline:
                raise BenchError("fairness: the holder never filled its slots")
            time.sleep(0.05)
        feed = paced_enqueue(bench, quiet, quiet_n, rate, label=f"quiet tenant behind long tasks ({label})")
        deadline = time.monotonic() + 120
        while Task.objects.filter(tenant=quiet, started_at__isnull=True).exists():
            if time.monotonic() > deadline:
                raise BenchError("fairness: quiet tasks behind long ones never started")
            time.sleep(0.05)
    waits = queue_waits_ms(quiet)
    return {"cap": cap, "slots": slots, "holder_task_s": HOLD_SECONDS, "quiet_wait": latency_summary(waits),
            "feed_rate": feed["achieved_rate"]}


def run(bench: Bench) -> dict[str, Any]:
    """The time-fair figures (``fairness.run`` adds them to its own)."""
    out: dict[str, Any] = {}
    for key, by_time in (("time_fair", True), ("per_task", False)):
        out[key] = _shares(bench, by_time=by_time)
        bench.reset()
    slots = bench.options.processes * bench.options.threads
    for key, cap in (("behind_long_no_cap", None), ("behind_long_capped", max(1, slots - max(1, slots // 4)))):
        out[key] = _behind_long(bench, cap=cap)
        bench.reset()
    a, b = out["behind_long_no_cap"]["quiet_wait"], out["behind_long_capped"]["quiet_wait"]
    out["cap_p95_ratio"] = round(a["p95_ms"] / b["p95_ms"], 1) if a["p95_ms"] and b["p95_ms"] else None
    return out
