"""A bulk cancel in a real browser (headless Chromium → daphne): confirmed with its count, started in
the background, its progress page turning to done without a reload while the job runs."""

import contextlib
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Page, expect

from jobs.lifecycle import Status
from jobs.models import BulkAction, Task
from jobs.services.enqueue import enqueue_many
from tenants.models import Tenant
from tests.support.browser import ARTIFACTS, TIMEOUT_MS, BrowserWatch, ConsoleServer
from tests.support.bulk import run_bulk_jobs

pytestmark = pytest.mark.django_db(transaction=True)

USERNAME = "e2e-bulk"
PASSWORD = "e2e-bulk-pw-1"  # noqa: S105 — a throwaway account in the test database


def test_a_bulk_cancel_runs_in_the_background_with_live_progress(console_server: ConsoleServer,
                                                                  browser_page: tuple[Page, BrowserWatch]) -> None:
    page, watch = browser_page
    tenant = Tenant.objects.create(name="Acme", slug="acme")
    later = (timezone.now() + timedelta(hours=1)).isoformat()
    enqueue_many([{"type": "noop", "run_at": later}] * 3, tenant=tenant)  # waiting, and no worker runs them
    User.objects.create_superuser(USERNAME, email="b@example.com", password=PASSWORD)
    base = console_server.url
    try:
        page.goto(f"{base}/login/?next=/tasks/%3Ftype%3Dnoop")
        page.get_by_label("Username").fill(USERNAME)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("button", name="Cancel all…").click()
        expect(page.locator("[data-bulk-count]")).to_have_text("3", timeout=TIMEOUT_MS)
        page.get_by_role("button", name="Cancel them").click()
        progress = page.locator("#bulk-progress")
        expect(progress).to_have_attribute("data-bulk-state", "queued", timeout=TIMEOUT_MS)
        assert Task.objects.filter(type="noop", status=Status.SCHEDULED).count() == 3  # nothing done yet
        page.evaluate("() => { window.__marker = 1; }")
        [summary] = run_bulk_jobs()  # the job, as a worker runs it
        assert summary["done"] == 3
        expect(progress).to_have_attribute("data-bulk-state", "done", timeout=TIMEOUT_MS)
        expect(progress.locator("[data-bulk-done]")).to_have_text("3")
        assert page.evaluate("() => window.__marker") == 1, "the page was not reloaded"
        assert BulkAction.objects.get().actor["name"] == USERNAME
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "bulk-done.png"), full_page=True)
    except BaseException:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(ARTIFACTS / "bulk-failure.png"), full_page=True)
        raise
    assert Task.objects.filter(type="noop", status=Status.CANCELLED).count() == 3
    assert not watch.unexpected_console_errors(), f"browser console errors: {watch.console_errors}"
    assert not watch.page_errors, f"uncaught exceptions in the page: {watch.page_errors}"
    assert not watch.http_errors, f"HTTP error responses: {watch.http_errors}"
