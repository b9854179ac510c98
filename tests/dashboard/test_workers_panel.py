"""The workers panel: slots by running time with their share of the timeout, late heartbeats, lost workers."""

import re

import pytest
from django.test import Client

from dashboard import workerspanel
from jobs.lifecycle import Status
from jobs.models import Event
from jobs.services import health
from tenants.models import Tenant
from tests.support.builders import add_task, add_worker, slot
from tests.support.console import html

pytestmark = pytest.mark.django_db


def test_busy_slots_longest_first_with_their_share_of_the_timeout(tenant: Tenant) -> None:
    short = add_task(tenant, status=Status.RUNNING, timeout=100)
    long = add_task(tenant, status=Status.RUNNING, timeout=100)
    add_worker(1, slots=[slot(0), slot(1, short, running_s=10), slot(2, long, running_s=90)])
    fragment = workerspanel.render_workers()
    rows = re.findall(r'<tr class="slot (busy|idle)">(.*?)</tr>', fragment)
    assert [state for state, _ in rows] == ["busy", "busy", "idle"]
    assert f"#{long.pk}<" in rows[0][1] and f"#{short.pk}<" in rows[1][1]
    assert re.search(r'class="share alert" data-share[^>]*>9\d%<', rows[0][1])  # 90 s of 100 s
    assert re.search(r'class="share" data-share[^>]*>1\d%<', rows[1][1])


def test_a_late_heartbeat_is_flagged_while_the_process_is_still_listed(db: None) -> None:
    add_worker(1, slots=[slot(0)])
    add_worker(2, slots=[slot(0)], heartbeat_age=health.stale_seconds() + 1)
    fragment = workerspanel.render_workers()
    processes = re.findall(r'<div class="process[^"]*" data-process="([^"]+)">(.*?)</div>', fragment)
    assert [("data-stale" in body) for _, body in processes] == [False, True]


def test_lost_workers_list_the_tasks_rescued_from_them(viewer: Client, tenant: Tenant) -> None:
    Event.objects.create(tenant=tenant, changes=[
        {"event": "task.rescued", "task": 41, "status": "scheduled",
         "error": "WorkerLost: worker host-z:9:a stopped renewing its lease"}])
    fragment = html(viewer.get("/live/workers/"))
    (lost,) = re.findall(r'<li data-lost="host-z:9:a">(.*?)</li>', fragment)
    assert "stopped renewing its lease" in lost and '<a href="/tasks/41/">#41</a>' in lost and "1 run rescued" in lost
