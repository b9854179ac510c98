"""End to end in a real browser: headless Debian Chromium (Playwright) → daphne (ASGI + SSE) → a real worker.

Log in through the form; watch the overview's ``completed`` counter go up over the SSE stream
as a worker completes a task (no page reload); open a task's drill-down; cancel a running task
from it and a scheduled one from its row, and see both statuses change; visit every console
page. A full-page screenshot of each lands in ``test-artifacts/e2e-<backend>/`` (with the
browser's log and the servers' logs). No console error, failed request or HTTP error is
allowed, except the SSE stream aborted by a page navigation.
"""

import contextlib
import dataclasses
import json
import re
import shutil
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from jobs.lifecycle import Status
from jobs.models import Task
from jobs.services.enqueue import enqueue
from tenants.models import Tenant
from tests.support.browser import ARTIFACTS, TIMEOUT_MS, BrowserWatch, ConsoleServer
from tests.support.processes import Workers
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

USERNAME = "e2e-admin"
PASSWORD = "e2e-console-pw-1"  # noqa: S105 — a throwaway account in the test database

COMPLETED = '[data-counter="completed"] .value'
COUNTER_VALUE = "(sel) => parseInt(document.querySelector(sel).textContent.replace(/[^0-9]/g, ''), 10)"


class Shots:
    """Full-page screenshots, numbered in the order the pages were visited."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.taken: list[Path] = []
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for old in ARTIFACTS.glob("*.png"):
            old.unlink()

    def __call__(self, name: str) -> Path:
        path = ARTIFACTS / f"{len(self.taken) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        return path


def status_of(pk: int) -> str:
    return Task.objects.values_list("status", flat=True).get(pk=pk)


def go_to(page: Page, link_text: str, heading: str) -> None:
    """Follow a link of the console's navigation (a full page load) and wait for the page's heading."""
    page.get_by_role("navigation", name="Console sections").get_by_role("link", name=link_text, exact=True).click()
    expect(page.locator("h1").first).to_contain_text(heading, timeout=TIMEOUT_MS)
    page.wait_for_load_state("load")


def test_console_end_to_end_in_a_browser(
    console_server: ConsoleServer, workers: Workers, browser_page: tuple[Page, BrowserWatch], tmp_path: Path,
) -> None:
    page, watch = browser_page
    tenant = Tenant.objects.create(name="Acme", slug="acme")
    User.objects.create_superuser(USERNAME, email="e2e@example.com", password=PASSWORD)
    workers.start("--processes", "1", "--threads", "2")  # warms up while the browser logs in
    shots = Shots(page)
    base = console_server.url
    try:
        run_flow(page, watch, shots, base, tenant)
    except BaseException:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(ARTIFACTS / "failure.png"), full_page=True)
        raise
    finally:
        (ARTIFACTS / "browser.json").write_text(json.dumps(dataclasses.asdict(watch), indent=1))
        for i, _ in enumerate(workers.procs):
            shutil.copyfile(tmp_path / f"workers-{i}.log", ARTIFACTS / f"workers-{i}.log")

    assert [p.name for p in shots.taken] == [
        "01-login.png", "02-overview.png", "03-tasks.png", "04-drill-down.png", "05-after-cancel.png",
        "06-dead-letter.png", "07-analytics.png", "08-types.png", "09-tenants.png",
    ]
    assert all(p.stat().st_size > 10_000 for p in shots.taken), "every screenshot holds a rendered page"
    assert not watch.unexpected_console_errors(), f"browser console errors: {watch.console_errors}"
    assert not watch.page_errors, f"uncaught exceptions in the page: {watch.page_errors}"
    assert not watch.unexpected_failures(), f"failed requests: {watch.unexpected_failures()}"
    assert not watch.http_errors, f"HTTP error responses: {watch.http_errors}"


def run_flow(page: Page, watch: BrowserWatch, shots: Shots, base: str, tenant: Tenant) -> None:
    # -- log in through the form -------------------------------------------------------------------------
    page.goto(f"{base}/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
    expect(page.locator("h1")).to_have_text("Log in to the console")
    shots("login")
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base}/", timeout=TIMEOUT_MS)
    expect(page.locator("h1")).to_have_text("Overview")
    expect(page.locator(".site-header .who")).to_contain_text(USERNAME)

    # -- the completed counter changes live, over the SSE stream ------------------------------------------
    live = page.locator("[data-live-status]")
    expect(live).to_have_attribute("data-state", "live", timeout=TIMEOUT_MS)
    expect(live).to_contain_text("Live: updates arrive as they happen.")
    expect(page.locator(COMPLETED)).to_be_visible()
    before = page.evaluate(COUNTER_VALUE, COMPLETED)
    assert before == 0, f"a fresh database shows 0 completed, not {before}"
    page.evaluate("() => { window.__marker = 1; }")
    requests_before = len(watch.requests)

    done = enqueue("noop", tenant=tenant)
    wait_for(lambda: status_of(done.pk) == Status.COMPLETED, timeout=60, what="the worker to complete the noop task")
    page.wait_for_function(f"(before) => ({COUNTER_VALUE})({COMPLETED!r}) > before", arg=before, timeout=TIMEOUT_MS)
    after = page.evaluate(COUNTER_VALUE, COMPLETED)
    assert after == before + 1
    assert page.evaluate("() => window.__marker") == 1, "the page was not reloaded"
    assert page.url == f"{base}/"
    during = watch.requests[requests_before:]
    assert not [u for u in during if "/live/" in u], f"the polling fallback ran, not SSE: {during}"
    expect(live).to_have_attribute("data-state", "live")
    # The same change reached the event feed through the stream.
    expect(page.locator("#live-feed")).to_contain_text(f"#{done.pk}", timeout=TIMEOUT_MS)

    # Work for the next pages: a task that runs a minute, one scheduled in an hour, one dead-lettered.
    long = enqueue("sleep", tenant=tenant, payload={"seconds": 60})
    later = enqueue("noop", tenant=tenant, delay=3600)
    dead = enqueue("fail", tenant=tenant, payload={"permanent": True, "message": "e2e: no retry"})
    wait_for(lambda: status_of(long.pk) == Status.RUNNING and status_of(dead.pk) == Status.FAILED,
             timeout=60, what="the sleep task to run and the failing one to be dead-lettered")
    assert status_of(later.pk) == Status.SCHEDULED
    # The stream keeps the rest of the page current too: every counter, the feed and the workers.
    for key, value in (("running", 1), ("scheduled", 1), ("failed", 1), ("completed", 1)):
        expect(page.locator(f'[data-counter="{key}"] .value')).to_have_text(str(value), timeout=TIMEOUT_MS)
    expect(page.locator("#live-feed")).to_contain_text(f"#{dead.pk}", timeout=TIMEOUT_MS)
    expect(page.locator("#live-workers .summary")).to_contain_text("1 worker process on 1 instance",
                                                                   timeout=TIMEOUT_MS)
    expect(page.locator(f'#live-workers a[href="/tasks/{long.pk}/"]')).to_be_visible(timeout=TIMEOUT_MS)
    assert page.evaluate("() => window.__marker") == 1, "the page was not reloaded"
    assert [u for u in watch.requests if u.endswith("/console/events")] == [f"{base}/console/events"], \
        "one SSE connection, never re-opened"
    shots("overview")

    # -- tasks, and a task's drill-down -------------------------------------------------------------------
    go_to(page, "Tasks", "Tasks")
    for task, status in ((done, "completed"), (long, "running"), (later, "scheduled"), (dead, "failed")):
        expect(page.locator(f"#task-row-{task.pk} .badge")).to_have_text(status)
    page.evaluate("() => { window.__marker = 2; }")
    shots("tasks")

    panel = page.locator("#detail-panel")
    page.locator(f"#task-row-{long.pk} th a").click()
    detail = panel.locator("#task-detail")
    expect(detail.locator("#task-title")).to_contain_text(f"Task #{long.pk}")
    expect(detail.locator("#task-title .badge")).to_have_text("running")
    expect(detail.locator(".facts")).to_contain_text("sleep")
    expect(detail.locator(".timeline")).to_contain_text("Attempt 1 running")
    shots("drill-down")

    # -- cancel the running task from its drill-down: "cancel requested", then "cancelled" ------------------
    detail.get_by_role("button", name="Ask to stop (cancel)").click()
    expect(page.locator("#messages")).to_contain_text(f"Asked running task {long.pk} to stop")
    title = panel.locator("#task-detail #task-title")
    # The worker may already have stopped it by the time the response is rendered.
    expect(title).to_contain_text(re.compile(r"cancel requested|cancelled"))
    wait_for(lambda: status_of(long.pk) == Status.CANCELLED, timeout=60, what="the worker to record the cancellation")
    page.locator(f"#task-row-{long.pk} th a").click()  # refresh the drill-down (htmx, no page load)
    expect(title.locator(".badge")).to_have_text("cancelled")
    expect(title).not_to_contain_text("cancel requested")
    expect(panel.locator(".timeline")).to_contain_text("Cancelled (after 1 attempt)")

    # …and the scheduled one from its row: cancelled at once, the row swapped in place.
    page.get_by_role("button", name=f"Cancel task {later.pk}").click()
    expect(page.locator(f"#task-row-{later.pk} .badge")).to_have_text("cancelled")
    expect(page.locator("#messages")).to_contain_text(f"Task {later.pk} cancelled.")
    assert status_of(later.pk) == Status.CANCELLED
    assert page.evaluate("() => window.__marker") == 2, "the cancellations did not reload the page"
    shots("after-cancel")

    # -- the other pages -----------------------------------------------------------------------------------
    go_to(page, "Dead letter", "Dead letter")
    expect(page.locator("main")).to_contain_text("e2e: no retry")
    shots("dead-letter")
    go_to(page, "Analytics", "Analytics")
    shots("analytics")
    go_to(page, "Task types", "Task types")
    for name in ("noop", "sleep", "fail"):
        expect(page.locator("main")).to_contain_text(name)
    shots("types")
    go_to(page, "Tenants", "Tenants")
    expect(page.locator("main")).to_contain_text("acme")
    shots("tenants")
