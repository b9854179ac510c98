"""Prometheus metrics (text exposition format 0.0.4), from indexes and rollups only."""

import hmac
from collections import defaultdict
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import checks
from django.db.models import Count, Sum
from django.http import Http404, HttpRequest, HttpResponse

from tenants.models import Tenant

from .. import clock
from ..conf import conf
from ..lifecycle import LIVE
from ..models import Task, TaskStat, ThroughputBucket, WorkerProcess
from ..models.stats import AttemptStat
from ..shapes import slots

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


#: The exposition format's escapes in a label value: a raw newline would end the sample line.
_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n"})


def _labels(**labels: object) -> str:
    inner = ",".join(f'{k}="{str(v).translate(_ESCAPES)}"' for k, v in labels.items())
    return "{" + inner + "}"


def render() -> str:
    slugs = dict(Tenant.objects.values_list("pk", "slug"))
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[dict[str, Any], Any]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        lines.extend(f"{name}{_labels(**labels)} {value:g}" for labels, value in samples)

    live = (Task.objects.filter(status__in=LIVE)
            .values_list("status", "tenant_id", "type").annotate(n=Count("id")).order_by())
    metric("jobs_queue_depth", "gauge", "Unfinished tasks by status, tenant and type.",
           [({"status": s, "tenant": slugs.get(t, t), "type": ty}, n) for s, t, ty, n in live])

    finished = (TaskStat.objects.values_list("status", "tenant_id", "type")
                .annotate(n=Sum("count"), timed=Sum("timed"), ex=Sum("exec_ms_sum"), wait=Sum("wait_ms_sum"))
                .order_by())
    rows = list(finished)
    metric("jobs_tasks_finished_total", "counter",
           "Finished tasks by the final status they have now (a requeue takes one back), tenant and type.",
           [({"status": s, "tenant": slugs.get(t, t), "type": ty}, n or 0) for s, t, ty, n, *_ in rows])
    per_type: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0])
    for _, _, ty, _, timed, ex, wait in rows:
        per_type[ty][0] += timed or 0
        per_type[ty][1] += (ex or 0) / 1000
        per_type[ty][2] += (wait or 0) / 1000
    metric("jobs_task_execution_seconds_sum", "counter", "Total execution time of finished tasks by type.",
           [({"type": ty}, v[1]) for ty, v in sorted(per_type.items())])
    metric("jobs_task_queue_wait_seconds_sum", "counter",
           "Total queue wait of finished tasks by type (each from when its last attempt was due).",
           [({"type": ty}, v[2]) for ty, v in sorted(per_type.items())])
    metric("jobs_task_timed_total", "counter", "Finished tasks that ran (the count behind the sums).",
           [({"type": ty}, v[0]) for ty, v in sorted(per_type.items())])
    attempts = list(AttemptStat.objects.values_list("tenant_id", "type")
                    .annotate(a=Sum("attempts"), f=Sum("failed_attempts")).order_by())
    metric("jobs_task_attempts_total", "counter",
           "Runs that ended (completed, failed or cancelled) by tenant and type.",
           [({"tenant": slugs.get(t, t), "type": ty}, a or 0) for t, ty, a, _ in attempts])
    metric("jobs_task_failed_attempts_total", "counter",
           "Runs that ended in an error, retried or dead-lettered, by tenant and type (never taken back by a requeue).",
           [({"tenant": slugs.get(t, t), "type": ty}, f or 0) for t, ty, _, f in attempts])

    clock.refresh()
    now = clock.now()
    minute_ago = now - timedelta(seconds=60)
    recent = (ThroughputBucket.objects.filter(bucket__gte=minute_ago).values_list("tenant_id")
              .annotate(c=Sum("completed"), f=Sum("failed")).order_by())
    metric("jobs_throughput_last_minute", "gauge", "Tasks finished in the last minute by tenant and outcome.",
           [s for t, c, f in recent for s in (({"tenant": slugs.get(t, t), "outcome": "completed"}, c or 0),
                                              ({"tenant": slugs.get(t, t), "outcome": "failed"}, f or 0))])

    processes = list(WorkerProcess.objects.alive(now, conf().LEASE_SECONDS))
    per_instance: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for p in processes:
        busy = sum(1 for slot in slots(p.slots) if slot["task_id"] is not None)
        per_instance[p.instance][0] += 1
        per_instance[p.instance][1] += busy
        per_instance[p.instance][2] += p.threads - busy
    metric("jobs_worker_processes", "gauge", "Live worker processes by instance.",
           [({"instance": i}, v[0]) for i, v in sorted(per_instance.items())])
    metric("jobs_worker_slots", "gauge", "Executor slots by instance and state.",
           [s for i, v in sorted(per_instance.items())
            for s in (({"instance": i, "state": "busy"}, v[1]), ({"instance": i, "state": "idle"}, v[2]))])
    return "\n".join(lines) + "\n"


def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics; with METRICS_TOKEN set, scrapers must send ``Authorization: Bearer <token>``.

    In production there is no open /metrics: without a token it is not served at all (404), since
    it names every tenant, type and instance and each scrape groups every unfinished task.
    """
    token = settings.METRICS_TOKEN
    if not token and settings.PRODUCTION:
        raise Http404
    if token:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        # Bytes: compare_digest refuses non-ASCII str (a header is latin-1 decoded), which would be a 500.
        if not hmac.compare_digest(sent.encode(), token.encode()):
            return HttpResponse("unauthorized\n", status=401, content_type="text/plain")
    return HttpResponse(render(), content_type=CONTENT_TYPE)


@checks.register(checks.Tags.security, deploy=True)
def check_metrics_token(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """A production instance without a token serves no metrics: say so before a scraper finds out."""
    if settings.PRODUCTION and not settings.METRICS_TOKEN:
        return [checks.Warning("METRICS_TOKEN is not set: /metrics answers 404 under PRODUCTION=1",
                               hint="Set METRICS_TOKEN; Prometheus then sends `Authorization: Bearer <token>`.",
                               id="jobs.W001")]
    return []
