"""``/console/events`` against real daphne and worker processes: staff only, coalesced, reset on a give-up."""

import html
import json
import secrets
import time

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from jobs.lifecycle import Status
from jobs.models import Task
from jobs.services.enqueue import enqueue_many
from tests.support.outbox import insert
from tests.support.sse import log_in_through_daphne, request
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_console_stream_is_for_staff_and_coalesces(tenant, daphne, workers, streams) -> None:
    status, _, _ = request(daphne.port, "/console/events")
    assert status in (302, 403)
    clerk = Client()
    clerk.force_login(User.objects.create_user("clerk"))
    status, _, _ = request(daphne.port, "/console/events", {"Cookie": f"sessionid={clerk.cookies['sessionid'].value}"})
    assert status == 403, "not staff"

    # A real login through daphne (Django's views behind the same router), then the stream with its cookie.
    password = secrets.token_urlsafe(12)
    boss = User.objects.create_user("boss", password=password, is_staff=True)
    boss.user_permissions.add(Permission.objects.get(codename="view_task", content_type__app_label="jobs"))
    session = log_in_through_daphne(daphne.port, "boss", password)
    console = streams(daphne.port, "/console/events", {"Cookie": f"sessionid={session}"})
    assert console.status == 200
    assert console.headers["content-type"].startswith("text/event-stream")
    console.wait(lambda s: {"counters", "workers", "chart"} <= {m.event for m in s.snapshot()},
                 what="the first snapshots")

    enqueue_many([{"type": "noop"}] * 500, tenant=tenant)
    started = time.monotonic()
    proc = workers.start("--processes", "1", "--threads", "4", "--burst")
    time.sleep(3.5)
    assert proc.wait(timeout=120) == 0, workers.log()
    wait_for(lambda: Task.objects.filter(status=Status.COMPLETED).count() == 500, what="the 500 tasks")
    time.sleep(2.5)  # let the last coalesced messages out
    ended = time.monotonic()
    during = [m for m in console.snapshot() if m.at >= started]
    duration = ended - started
    counters = [m for m in during if m.event == "counters"]
    feeds = [m for m in during if m.event == "feed"]
    first_three_seconds = [m for m in counters if m.at < started + 3]
    assert len(first_three_seconds) <= 4, "at most one counters message a second"
    assert 1 <= len(counters) <= duration + 2
    assert 1 <= len(feeds) <= duration + 2
    assert len(during) < 100, f"{len(during)} messages for 1,500 changes: not coalesced"
    for m in feeds:
        if m.data and m.data.startswith("{"):  # the JSON fallback (render_feed failed), HTML-escaped
            assert len(json.loads(html.unescape(m.data))["changes"]) <= 20


def test_console_stream_resets_when_an_id_is_given_up(tenant, start_daphne, streams) -> None:
    """A coalesced stream cannot replay: a give-up sends ``reset``, then every snapshot again at once."""
    daphne = start_daphne(JOBS_SSE_GAP_SECONDS="2", JOBS_SSE_CHART_SECONDS="600", JOBS_SSE_WORKERS_SECONDS="600")
    clerk = Client()
    clerk.force_login(User.objects.create_user("watcher", is_staff=True, is_superuser=True))
    console = streams(daphne.port, "/console/events", {"Cookie": f"sessionid={clerk.cookies['sessionid'].value}"})
    assert console.status == 200
    console.wait(lambda s: {"counters", "workers", "chart"} <= {m.event for m in s.snapshot()},
                 what="the first snapshots")
    # Ids of rows earlier tests deleted are awaited (and given up) too: let those resets pass first.
    [first] = insert(tenant.pk)
    time.sleep(4)
    before = len(console.snapshot())

    insert(tenant.pk, first + 2)  # first + 1 never commits
    console.wait(lambda s: any(m.event == "reset" for m in s.snapshot()[before:]), timeout=30, what="the reset")
    after = console.snapshot()[before:]
    at = next(i for i, m in enumerate(after) if m.event == "reset")
    assert json.loads(after[at].data or "") == {
        "reason": "gap_timeout", "resync": "/live/feed/",
        "detail": "An event id stayed uncommitted longer than the stream waits; its changes, "
                  "if they commit, will not be streamed.",
    }
    console.wait(lambda s: {"counters", "workers", "chart"} <= {m.event for m in s.snapshot()[before + at:]},
                 timeout=5, what="every snapshot right after the reset (chart and workers are due only in 10 min)")
