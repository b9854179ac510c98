"""The overview's workers panel: live processes by instance, their slots, and the workers lost lately.

``render_workers() -> str`` follows ``dashboard.live``'s contract (one line of HTML, no request,
bounded queries: the registry, the busy slots' tasks, ``jobs.services.health.lost_workers``).
Busy slots come first, the longest running at the top, each with its share of the task's
timeout; a process whose heartbeat is late is flagged before its lease lapses.
"""

from collections import defaultdict
from datetime import datetime
from typing import Any

from django.template.loader import render_to_string
from django.urls import reverse

from jobs import clock, shapes
from jobs.conf import conf
from jobs.models import Task, WorkerProcess
from jobs.services import health
from tenants.models import Tenant

from . import formatting
from .live import one_line

#: A run past these shares of its timeout is shown amber, then red.
TIMEOUT_WARN, TIMEOUT_ALERT = 0.5, 0.8


def _slot(slot: shapes.Slot, now: datetime, slugs: dict[Any, str], timeouts: dict[int, int]) -> dict[str, Any]:
    task_id = slot["task_id"]
    started = shapes.slot_started(slot)
    seconds = (now - started).total_seconds() if started else None
    timeout = timeouts.get(task_id) if task_id is not None else None
    share = seconds / timeout if seconds is not None and timeout else None
    return {
        "slot": slot["slot"], "busy": task_id is not None, "task_id": task_id,
        "url": reverse("dashboard:task", args=[task_id]) if task_id is not None else None,
        "type": slot["type"], "tenant": slugs.get(slot["tenant_id"], slot["tenant_id"]), "started_at": started,
        "seconds": seconds,
        "running": formatting.duration_ms(seconds * 1000) if seconds is not None else None,
        "timeout": timeout, "share": formatting.percent(share) if share is not None else None,
        "level": "alert" if share is not None and share >= TIMEOUT_ALERT
        else "warn" if share is not None and share >= TIMEOUT_WARN else "",
    }


def _by_running_time(slot: dict[str, Any]) -> tuple[int, float, int]:
    """Busy before idle, the longest running first; idle slots in their order."""
    return (0 if slot["busy"] else 1, -(slot["seconds"] or 0.0), slot["slot"])


def workers_context(now: datetime | None = None) -> dict[str, Any]:
    if now is None:
        clock.refresh()  # heartbeats and slot start times are on the database's clock
        now = clock.now()
    processes = list(WorkerProcess.objects.alive(now, conf().LEASE_SECONDS).order_by("instance", "hostname", "pid"))
    decoded = {p.pk: shapes.slots(p.slots) for p in processes}
    every_slot = [s for ss in decoded.values() for s in ss]
    tenant_ids = {s["tenant_id"] for s in every_slot if s["tenant_id"] is not None}
    task_ids = {s["task_id"] for s in every_slot if s["task_id"] is not None}
    slugs: dict[Any, str] = dict(Tenant.objects.filter(pk__in=tenant_ids).values_list("pk", "slug")) \
        if tenant_ids else {}
    timeouts = dict(Task.objects.filter(pk__in=task_ids).values_list("pk", "timeout")) if task_ids else {}
    instances: dict[str, list[dict[str, Any]]] = defaultdict(list)
    busy_total = slots_total = 0
    for process in processes:
        slots = sorted((_slot(s, now, slugs, timeouts) for s in decoded[process.pk]), key=_by_running_time)
        busy = sum(1 for s in slots if s["busy"])
        busy_total += busy
        slots_total += len(slots)
        age = (now - process.last_heartbeat).total_seconds()
        instances[process.instance].append({
            "id": process.pk, "pid": process.pid, "hostname": process.hostname, "threads": process.threads,
            "state": process.state, "queues": [q for q in process.queues.split(",") if q],
            "started_at": process.started_at, "last_heartbeat": process.last_heartbeat,
            "heartbeat_age": formatting.duration_ms(age * 1000), "stale": health.is_stale(process, now),
            "lease_left": formatting.duration_ms(max(0.0, conf().LEASE_SECONDS - age) * 1000),
            "clock": formatting.skew(process.clock_skew),
            "clock_off": process.clock_skew is not None and abs(process.clock_skew) > clock.WARN_SECONDS,
            "busy": busy, "slots": slots,
        })
    groups = [{"name": name, "processes": procs, "busy": sum(p["busy"] for p in procs),
               "slots": sum(len(p["slots"]) for p in procs)} for name, procs in sorted(instances.items())]
    lost = [{"worker": w.worker, "why": w.why, "last_at": w.last_at,
             "rescued": [(t, reverse("dashboard:task", args=[t])) for t in w.rescued[:20]],
             "rescued_count": len(w.rescued), "dead_lettered_count": len(w.dead_lettered),
             "dead_lettered": [(t, reverse("dashboard:task", args=[t])) for t in w.dead_lettered[:20]]}
            for w in health.lost_workers(now)]
    return {"instances": groups, "process_count": len(processes), "busy": busy_total, "slots": slots_total,
            "now": now, "lost": lost, "stale_after": formatting.duration_ms(health.stale_seconds() * 1000)}


def render_workers() -> str:
    return one_line(render_to_string("dashboard/live/_workers.html", workers_context()))
