"""The Prometheus endpoint (/metrics, jobs.services.metrics): its text format, families and optional token."""

import re
from typing import Any

import pytest

from jobs.services.enqueue import enqueue

SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? -?[0-9.e+-]+$')


@pytest.mark.django_db
def test_metrics_endpoint_exposes_prometheus_text(client: Any, tenant: Any, settings: Any) -> None:
    enqueue("noop", tenant=tenant)
    enqueue("noop", tenant=tenant)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = response.content.decode()
    assert 'jobs_queue_depth{status="pending",tenant="acme",type="noop"} 2' in text
    for name, kind in (("jobs_queue_depth", "gauge"), ("jobs_tasks_finished_total", "counter"),
                       ("jobs_worker_processes", "gauge"), ("jobs_worker_slots", "gauge")):
        assert f"# TYPE {name} {kind}" in text and f"# HELP {name} " in text
    for line in text.splitlines():
        assert line.startswith("# ") or SAMPLE.match(line), f"not a Prometheus sample: {line!r}"

    settings.METRICS_TOKEN = "scrape-me"  # noqa: S105  (a test token)
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer scrape-me"}).status_code == 200


@pytest.mark.django_db
def test_metrics_count_failed_attempts_apart_from_the_dead_letter(client: Any, tenant: Any) -> None:
    from django.utils import timezone

    from jobs.lifecycle import Status
    from jobs.services import control
    from jobs.store import rollups
    from tests.support.builders import finish, make_task

    dead = finish(make_task(tenant, "call_webhook"), Status.FAILED)
    finish(make_task(tenant, "call_webhook"), Status.COMPLETED)
    rollups.record([], retried=[rollups.Retried(tenant.pk, "call_webhook", timezone.now())] * 2)
    control.requeue(dead.pk)
    text = client.get("/metrics").content.decode()
    assert 'jobs_task_attempts_total{tenant="acme",type="call_webhook"} 4' in text
    assert 'jobs_task_failed_attempts_total{tenant="acme",type="call_webhook"} 3' in text  # the requeue keeps them
    assert 'jobs_tasks_finished_total{status="failed",tenant="acme",type="call_webhook"} 0' in text
    assert "# TYPE jobs_task_failed_attempts_total counter" in text
