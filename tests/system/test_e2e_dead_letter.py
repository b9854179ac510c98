"""The dead-letter race in a real browser (headless Chromium → daphne): failures arrive while the
operator reads "Requeue 3 tasks?"; confirming requeues those 3 and says it skipped the 2 that
failed after the confirmation — one of them an older task that ran out of retries meanwhile."""

import contextlib
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Page, expect

from jobs.lifecycle import Status
from tenants.models import Tenant
from tests.support.browser import ARTIFACTS, TIMEOUT_MS, BrowserWatch, ConsoleServer
from tests.support.builders import add_task, failed_task, set_status
from tests.support.bulk import run_bulk_jobs
from tests.support.console import statuses

pytestmark = pytest.mark.django_db(transaction=True)

USERNAME = "e2e-dead"
PASSWORD = "e2e-dead-pw-1"  # noqa: S105 — a throwaway account in the test database


def test_requeue_all_acts_only_on_what_the_confirmation_counted(console_server: ConsoleServer,
                                                                browser_page: tuple[Page, BrowserWatch]) -> None:
    page, watch = browser_page
    tenant = Tenant.objects.create(name="Acme", slug="acme")
    retrying = add_task(tenant, "send_email", status=Status.SCHEDULED)  # an older id, still retrying
    counted = [failed_task(tenant, "send_email", ("SMTPError", "mailbox full")) for _ in range(3)]
    User.objects.create_superuser(USERNAME, email="d@example.com", password=PASSWORD)
    try:
        page.goto(f"{console_server.url}/login/?next=/dead-letter/")
        page.get_by_label("Username").fill(USERNAME)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dead-letter.png"), full_page=True)
        page.get_by_role("button", name="Requeue all…").click()
        expect(page.locator("[data-requeue-count]")).to_have_text("3", timeout=TIMEOUT_MS)
        expect(page.locator("[data-preview] a")).to_have_count(3)
        page.screenshot(path=str(ARTIFACTS / "dead-letter-confirm.png"), full_page=True)
        # Failures arrive while the operator reads the confirmation.
        at = timezone.now() + timedelta(seconds=1)
        arrived = [set_status(retrying, Status.FAILED, finished_at=at),
                   set_status(failed_task(tenant, "send_email", ("SMTPError", "mailbox full")), Status.FAILED,
                              finished_at=at)]
        page.get_by_role("button", name="Requeue them").click()
        expect(page.get_by_text("Requeueing 3 dead-lettered tasks in the background; "
                                "skipped 2 (2 failed after the confirmation).")).to_be_visible(timeout=TIMEOUT_MS)
        [summary] = run_bulk_jobs()  # the job, as a worker runs it
        assert summary["done"] == 3
        progress = page.locator("#bulk-progress")
        expect(progress).to_have_attribute("data-bulk-state", "done", timeout=TIMEOUT_MS)
        expect(progress.locator("[data-bulk-done]")).to_have_text("3")
        page.screenshot(path=str(ARTIFACTS / "dead-letter-race.png"), full_page=True)
    except BaseException:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(ARTIFACTS / "dead-letter-failure.png"), full_page=True)
        raise
    assert statuses(*counted) == [Status.PENDING] * 3
    assert statuses(*arrived) == [Status.FAILED] * 2
    assert not watch.unexpected_console_errors(), f"browser console errors: {watch.console_errors}"
    assert not watch.page_errors, f"uncaught exceptions in the page: {watch.page_errors}"
    assert not watch.http_errors, f"HTTP error responses: {watch.http_errors}"
