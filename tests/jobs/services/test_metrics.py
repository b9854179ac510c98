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
