"""The Queues page in a real browser (headless Chromium → daphne): pause with a reason from the prompt,
see a pause made elsewhere arrive over the SSE stream without a reload, resume."""

import contextlib
import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Dialog, Page, expect

from jobs.models import Pause
from jobs.services import pauses
from tenants.models import Tenant
from tests.support.browser import ARTIFACTS, TIMEOUT_MS, BrowserWatch, ConsoleServer
from tests.support.builders import add_task

pytestmark = pytest.mark.django_db(transaction=True)

USERNAME = "e2e-queues"
PASSWORD = "e2e-queues-pw-1"  # noqa: S105 — a throwaway account in the test database


def test_pause_and_resume_from_the_queues_page(console_server: ConsoleServer,
                                               browser_page: tuple[Page, BrowserWatch]) -> None:
    page, watch = browser_page
    tenant = Tenant.objects.create(name="Acme", slug="acme")
    add_task(tenant, "noop", queue="emails")
    User.objects.create_superuser(USERNAME, email="q@example.com", password=PASSWORD)
    base = console_server.url
    try:
        page.goto(f"{base}/login/?next=/queues/")
        page.get_by_label("Username").fill(USERNAME)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.locator("h1")).to_have_text("Queues")
        expect(page.locator("[data-live-status]")).to_have_attribute("data-state", "live", timeout=TIMEOUT_MS)
        emails = page.locator('tr[data-queue="emails"]')
        expect(emails.locator("[data-depth]")).to_have_text("1")

        # Pause: htmx asks for the reason (hx-prompt) and swaps the fresh table in.
        def answer(dialog: Dialog) -> None:
            dialog.accept("SMTP provider down")

        page.once("dialog", answer)
        emails.get_by_role("button", name="Pause").click()
        expect(emails.locator("[data-state]")).to_contain_text("SMTP provider down")
        expect(page.locator("#messages")).to_contain_text("Paused queue emails")
        row = Pause.objects.get()
        assert (row.kind, row.value, row.paused_by) == ("queue", "emails", f"console {USERNAME}")

        # A pause made elsewhere (the CLI, the API) arrives over the stream, no reload.
        page.evaluate("() => { window.__marker = 1; }")
        pauses.pause("type", "noop", reason="bad deploy", by="ops@host")
        expect(page.locator('tr[data-type="noop"] [data-state]')).to_contain_text("bad deploy", timeout=TIMEOUT_MS)
        assert page.evaluate("() => window.__marker") == 1, "the page was not reloaded"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "queues-paused.png"), full_page=True)

        emails.get_by_role("button", name="Resume").click()
        expect(emails.locator("[data-state]")).to_have_text(re.compile(r"^\s*active\s*$"))
        expect(page.locator("#messages")).to_contain_text("Resumed queue emails")
        assert list(Pause.objects.values_list("kind", flat=True)) == ["type"]
    except BaseException:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(ARTIFACTS / "queues-failure.png"), full_page=True)
        raise
    assert not watch.unexpected_console_errors(), f"browser console errors: {watch.console_errors}"
    assert not watch.page_errors, f"uncaught exceptions in the page: {watch.page_errors}"
    assert not watch.http_errors, f"HTTP error responses: {watch.http_errors}"
