"""The overview page and its live fragments: counters, workers, feed and chart."""

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from dashboard import live, workerspanel
from jobs.lifecycle import Status
from jobs.models import Event
from jobs.store import rollups
from tenants.models import Tenant
from tests.support.builders import add_task, add_worker, finish, slot
from tests.support.console import counter, html

pytestmark = pytest.mark.django_db


def test_render_counters(tenant: Tenant) -> None:
    for _ in range(3):
        add_task(tenant)
    add_task(tenant, status=Status.SCHEDULED)
    add_task(tenant, status=Status.RUNNING)
    for _ in range(3):
        finish(add_task(tenant), Status.COMPLETED, wait_ms=1000, exec_ms=3000)
    finish(add_task(tenant), Status.FAILED, wait_ms=1000, exec_ms=3000)
    # Older history from the rollups (pruned tasks still count): 1,234 completed an hour ago.
    hour_ago = timezone.now() - timedelta(hours=2)
    rollups.record([rollups.Finished(tenant.pk, "noop", 3, Status.COMPLETED, hour_ago - timedelta(seconds=2),
                                 hour_ago - timedelta(seconds=1), hour_ago)] * 1230)
    fragment = live.render_counters()
    assert "\n" not in fragment
    assert counter(fragment, "pending") == "3"
    assert counter(fragment, "scheduled") == "1"
    assert counter(fragment, "running") == "1"
    assert counter(fragment, "completed") == "1,233"
    assert counter(fragment, "failed") == "1"
    assert counter(fragment, "cancelled") == "0"
    assert counter(fragment, "throughput") == "3/min"
    assert counter(fragment, "failure_rate") == "0.08%"  # 1 of 1,234
    # Averages over the last hour only (the 1,230 of two hours ago ran 1 s each): 4 tasks of 3 s.
    assert counter(fragment, "queue_wait") == "1 s"  # every timed task waited 1 s
    assert counter(fragment, "execution") == "3 s"
    assert "Dead-letter rate" in fragment and "Failed attempts" in fragment


def test_render_workers(tenant: Tenant) -> None:
    busy = add_task(tenant, "send_email", status=Status.RUNNING)
    add_worker(101, slots=[slot(0, busy, running_s=90), slot(1)])
    add_worker(102, slots=[slot(0), slot(1)])
    add_worker(7, instance="host-b", slots=[slot(0)])
    add_worker(55, instance="host-dead", slots=[slot(0)], heartbeat_age=600)  # gone: not shown
    fragment = workerspanel.render_workers()
    assert "\n" not in fragment
    assert "3 worker processes on 2 instances" in fragment and "<strong>1</strong> of 5 slots busy" in fragment
    assert fragment.index("host-a") < fragment.index("Process 101") < fragment.index("Process 102") \
        < fragment.index("host-b") < fragment.index("Process 7")
    assert "host-dead" not in fragment
    busy_row = re.search(r'<tr class="slot busy">(.*?)</tr>', fragment)
    assert busy_row
    assert f'<a href="/tasks/{busy.pk}/">#{busy.pk}</a>' in busy_row.group(1)
    assert "send_email" in busy_row.group(1) and "acme" in busy_row.group(1) and "1.5 min" in busy_row.group(1)
    assert fragment.count('<tr class="slot idle">') == 4


def test_render_workers_shows_each_hosts_clock_skew_and_flags_one_over_2s(db: None) -> None:
    add_worker(1, slots=[slot(0)], clock_skew=30.04)
    add_worker(2, slots=[slot(0)], clock_skew=-0.2)
    add_worker(3, slots=[slot(0)])
    fragment = workerspanel.render_workers()
    processes = re.findall(r'<div class="process[^"]*"[^>]*>(.*?)</div>', fragment)
    assert '<span class="tag alert"' in processes[0] and "clock +30.0 s</span>" in processes[0]
    assert "clock −0.2 s" in processes[1] and "tag alert" not in processes[1]
    assert "clock —</p>" in processes[2]  # not measured (yet)


def test_render_workers_empty(db: None) -> None:
    assert "No live worker processes" in workerspanel.render_workers()


def test_render_feed() -> None:
    changes = [
        {"seq": 12, "tenant": "acme", "event": "task.started", "task": 42, "type": "noop", "status": "running",
         "attempt": 1},
        {"seq": 13, "tenant": "acme", "event": "task.failed", "task": 42, "type": "noop", "status": "failed",
         "attempt": 1, "error": "<b>boom</b>"},
        {"seq": 11, "tenant": "globex", "event": "task.cancel_requested", "task": 7, "type": "sleep",
         "status": "running", "attempt": 2},
    ]
    fragment = live.render_feed(changes)
    assert "\n" not in fragment
    rows = re.findall(r'<li class="feed-row" data-seq="(\d+)">(.*?)</li>', fragment)
    assert [seq for seq, _ in rows] == ["13", "12", "11"]  # newest first, ready to prepend
    assert 'badge s-failed">failed</span> <a href="/tasks/42/">#42</a>' in rows[0][1]
    assert "&lt;b&gt;boom&lt;/b&gt;" in rows[0][1] and "<b>" not in fragment
    assert "attempt 1" in rows[0][1] and "acme" in rows[0][1]
    assert 'badge s-running">cancel requested</span>' in rows[2][1] and "globex" in rows[2][1]
    assert fragment.count("<time ") == 3
    many = live.render_feed([{"seq": i, "event": "task.completed", "task": i, "status": "completed"}
                             for i in range(80)])
    assert many.count("<li ") == live.FEED_LIMIT and 'data-seq="79"' in many and 'data-seq="29"' not in many
    assert live.render_feed([]) == ""
    # One outbox row holds several changes (one seq): the later change is the newer row.
    batch = live.render_feed([{"seq": 5, "event": "task.started", "task": 1, "status": "running"},
                              {"seq": 5, "event": "task.completed", "task": 1, "status": "completed"}])
    assert batch.index("completed</span>") < batch.index("started</span>")


def test_recent_changes_come_from_the_outbox(tenant: Tenant, other_tenant: Tenant) -> None:
    first = Event.objects.create(tenant=tenant, changes=[
        {"event": "task.created", "task": 1, "type": "noop", "status": "pending", "attempt": 0},
        {"event": "task.started", "task": 1, "type": "noop", "status": "running", "attempt": 1}])
    second = Event.objects.create(tenant=other_tenant, changes=[
        {"event": "task.completed", "task": 1, "type": "noop", "status": "completed", "attempt": 1}])
    changes = live.recent_changes()
    assert [(c["seq"], c["event"], c["tenant"]) for c in changes] == [
        (first.pk, "task.created", "acme"), (first.pk, "task.started", "acme"),
        (second.pk, "task.completed", "globex")]
    assert [c["event"] for c in live.recent_changes(limit=2)] == ["task.started", "task.completed"]
    rows = re.findall(r'badge s-\w+">([^<]+)</span>', live.render_feed(changes))
    assert rows == ["completed", "started", "created"]


def test_render_chart(tenant: Tenant) -> None:
    now = timezone.now()
    for status, n in ((Status.COMPLETED, 3), (Status.FAILED, 1)):
        for _ in range(n):
            finish(add_task(tenant), status, finished_at=now - timedelta(seconds=40))
    finish(add_task(tenant), Status.COMPLETED, finished_at=now - timedelta(hours=2))  # outside the window
    fragment = live.render_chart()
    assert "\n" not in fragment
    assert re.search(r'<svg class="chart" id="live-chart-svg" role="img" aria-labelledby="live-chart-svg-title '
                     r'live-chart-svg-desc"', fragment)
    assert "3 completed, 1 failed, 0 cancelled" in fragment
    assert "Peak 4" in fragment
    assert len(re.findall(r'<rect class="s-completed"', fragment)) == 1
    assert len(re.findall(r'<rect class="s-failed"', fragment)) == 1
    assert fragment.count('<g class="col">') == live.CHART_WINDOW // live.CHART_BUCKET
    assert "<table>" in fragment  # the data table alternative


def test_overview_page(viewer: Any, tenant: Tenant) -> None:
    add_task(tenant)
    Event.objects.create(tenant=tenant, changes=[{"event": "task.completed", "task": 99, "type": "noop",
                                                  "status": "completed", "attempt": 1}])
    body = html(viewer.get("/"))
    assert 'hx-ext="sse" sse-connect="/console/events"' in body
    for name in ("counters", "workers", "chart"):
        assert f'id="live-{name}" sse-swap="{name}"' in body
    assert 'id="live-feed" class="feed" sse-swap="feed" hx-swap="afterbegin"' in body
    assert counter(body, "pending") == "1"
    assert '<a href="/tasks/99/">#99</a>' in body
    assert 'id="live-chart-svg" role="img"' in body and "No live worker processes" in body
    assert "django_htmx/htmx-2.min.js" in body and "django_htmx/ext/hx-sse-2.min.js" in body
    assert "dashboard/console.js" in body and "dashboard/console.css" in body
    assert '<main id="main"' in body and 'aria-current="page">Overview' in body


def test_live_partials(viewer: Any, tenant: Tenant) -> None:
    add_task(tenant, status=Status.RUNNING)
    first = Event.objects.create(tenant=tenant, changes=[{"event": "task.started", "task": 1, "type": "noop",
                                                          "status": "running", "attempt": 1}])
    second = Event.objects.create(tenant=tenant, changes=[{"event": "task.completed", "task": 2, "type": "noop",
                                                           "status": "completed", "attempt": 1}])
    assert counter(html(viewer.get("/live/counters/")), "running") == "1"
    feed = html(viewer.get("/live/feed/", {"after": str(first.pk)}))
    assert f'data-seq="{second.pk}"' in feed and f'data-seq="{first.pk}"' not in feed
    assert html(viewer.get("/live/feed/", {"after": str(second.pk)})) == ""
    assert "<svg" in html(viewer.get("/live/chart/"))
    response = viewer.get("/live/workers/")
    assert "no-cache" in response["Cache-Control"] or "no-store" in response["Cache-Control"]
