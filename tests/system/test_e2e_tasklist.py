"""The task list in a real browser (headless Chromium → daphne): rows selected and acted on, what was
skipped reported; a row turning ``cancelled`` without a reload while keyboard focus stays where it was;
the task page following its task; and filters applied on submit, not on every change."""

import contextlib
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Page, expect

from jobs.lifecycle import Status
from jobs.models import Task
from tenants.models import Tenant
from tests.support.browser import ARTIFACTS, TIMEOUT_MS, BrowserWatch, ConsoleServer
from tests.support.builders import add_task

pytestmark = pytest.mark.django_db(transaction=True)

USERNAME = "e2e-list"
PASSWORD = "e2e-list-pw-1"  # noqa: S105 — a throwaway account in the test database


def login(page: Page, base: str, then: str) -> None:
    page.goto(f"{base}/login/?next={then}")
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_select_rows_act_and_watch_rows_go_live(console_server: ConsoleServer,
                                                browser_page: tuple[Page, BrowserWatch]) -> None:
    page, watch = browser_page
    tenant = Tenant.objects.create(name="Acme", slug="acme")
    later = timezone.now() + timedelta(hours=1)
    first, second = (add_task(tenant, "noop", status=Status.SCHEDULED, run_at=later) for _ in range(2))
    finished = add_task(tenant, "noop", status=Status.COMPLETED, finished_at=timezone.now())
    running = add_task(tenant, "slow", status=Status.RUNNING, attempts=1, started_at=timezone.now(),
                       worker="host-a:1:w1")
    User.objects.create_superuser(USERNAME, email="l@example.com", password=PASSWORD)
    try:
        login(page, console_server.url, "/tasks/")
        expect(page.locator(f"#task-row-{first.pk}")).to_be_visible(timeout=TIMEOUT_MS)
        # Filters wait for Apply: changing a menu does not reload the results.
        page.evaluate("() => { window.__marker = 1; }")
        page.get_by_label("Status").select_option("failed")
        page.wait_for_timeout(500)
        expect(page.locator(f"#task-row-{first.pk}")).to_be_visible()
        page.get_by_label("Status").select_option("")
        # Select two waiting rows and a finished one, cancel the selection.
        for task in (first, second, finished):
            page.get_by_label(f"Select task {task.pk}", exact=True).check()
        expect(page.locator("[data-selected-count]")).to_have_text("3")
        page.get_by_role("button", name="Cancel selected").click()
        result = page.locator("[data-selection-result]")
        expect(result).to_have_attribute("data-done", "2", timeout=TIMEOUT_MS)
        expect(result).to_contain_text(f"#{finished.pk} is completed")
        expect(page.locator(f"#task-row-{first.pk}")).to_have_attribute("data-status", "cancelled",
                                                                         timeout=TIMEOUT_MS)
        # The running row turns cancelled by itself; focus stays on the search box meanwhile.
        search = page.get_by_role("textbox", name="Search")
        search.focus()
        Task.objects.filter(pk=running.pk).update(status=Status.CANCELLED, finished_at=timezone.now())
        expect(page.locator(f"#task-row-{running.pk}")).to_have_attribute("data-status", "cancelled",
                                                                           timeout=TIMEOUT_MS)
        assert page.evaluate("() => document.activeElement && document.activeElement.name") == "q"
        assert page.evaluate("() => window.__marker") == 1, "the page was reloaded"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "tasklist-selection.png"), full_page=True)
    except BaseException:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(ARTIFACTS / "tasklist-failure.png"), full_page=True)
        raise
    assert not watch.unexpected_console_errors(), f"browser console errors: {watch.console_errors}"
    assert not watch.page_errors, f"uncaught exceptions in the page: {watch.page_errors}"
    assert not watch.http_errors, f"HTTP error responses: {watch.http_errors}"


def test_the_task_page_follows_its_task(console_server: ConsoleServer,
                                        browser_page: tuple[Page, BrowserWatch]) -> None:
    page, watch = browser_page
    tenant = Tenant.objects.create(name="Acme", slug="acme")
    task = add_task(tenant, "slow", status=Status.RUNNING, attempts=1, worker="host-a:1:w1",
                    started_at=timezone.now() - timedelta(seconds=3),
                    lease_expires_at=timezone.now() + timedelta(minutes=5))
    User.objects.create_superuser(USERNAME, email="l@example.com", password=PASSWORD)
    login(page, console_server.url, f"/tasks/{task.pk}/")
    ticking = page.locator("[data-ticking-ms]")
    expect(ticking).to_be_visible(timeout=TIMEOUT_MS)
    before = ticking.inner_text()
    expect(ticking).not_to_have_text(before, timeout=TIMEOUT_MS)  # "running for" ticks
    Task.objects.filter(pk=task.pk).update(status=Status.CANCELLED, finished_at=timezone.now())
    expect(page.locator("#task-detail .badge").first).to_have_text("cancelled", timeout=TIMEOUT_MS)
    expect(page.get_by_role("button", name="Ask to stop (cancel)")).to_have_count(0)
    assert not watch.page_errors, f"uncaught exceptions in the page: {watch.page_errors}"
