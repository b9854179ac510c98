"""The Limits page in a real browser (headless Chromium → daphne): a concurrency key's new holder, and
a tenant reaching its cap, arrive over the SSE stream without a reload."""

import contextlib

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from jobs.services.enqueue import enqueue_many
from jobs.store import transitions  # the test plays the worker's claim
from tenants.models import Tenant
from tests.support.browser import ARTIFACTS, TIMEOUT_MS, BrowserWatch, ConsoleServer

pytestmark = pytest.mark.django_db(transaction=True)

USERNAME = "e2e-limits"
PASSWORD = "e2e-limits-pw-1"  # noqa: S105 — a throwaway account in the test database


def test_a_new_holder_arrives_without_a_reload(console_server: ConsoleServer,
                                               browser_page: tuple[Page, BrowserWatch]) -> None:
    page, watch = browser_page
    tenant = Tenant.objects.create(name="Acme", slug="acme", max_running=1)
    enqueue_many([{"type": "noop", "concurrency_key": "acct-9"}] * 2, tenant=tenant)
    User.objects.create_superuser(USERNAME, email="l@example.com", password=PASSWORD)
    base = console_server.url
    try:
        page.goto(f"{base}/login/?next=/limits/")
        page.get_by_label("Username").fill(USERNAME)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.locator("h1")).to_have_text("Limits")
        expect(page.locator("[data-live-status]")).to_have_attribute("data-state", "live", timeout=TIMEOUT_MS)
        cap = page.locator('tr[data-cap="acme"]')
        expect(cap.locator("[data-running]")).to_have_text("0")
        expect(page.locator('[data-table="keys"]')).to_contain_text("No concurrency key has running")

        page.evaluate("() => { window.__marker = 1; }")
        (holder,) = transitions.claim(worker="host:1:w", asks={tenant.pk: 2}, queues=None, lease_seconds=60,
                                      capped={tenant.pk})
        key = page.locator('tr[data-key="acme:acct-9"]')
        expect(key.locator(f'[data-holder="{holder.pk}"]')).to_be_visible(timeout=TIMEOUT_MS)
        expect(key.locator("[data-holders]")).to_contain_text("host:1:w")
        expect(cap.locator("[data-running]")).to_have_text("1")
        expect(cap.locator("[data-state]")).to_contain_text("at its cap")
        assert page.evaluate("() => window.__marker") == 1, "the page was not reloaded"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "limits-holder.png"), full_page=True)

        key.locator(f'[data-holder="{holder.pk}"]').click()
        expect(page).to_have_url(f"{base}/tasks/{holder.pk}/")
    except BaseException:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(ARTIFACTS / "limits-failure.png"), full_page=True)
        raise
    assert not watch.unexpected_console_errors(), f"browser console errors: {watch.console_errors}"
    assert not watch.page_errors, f"uncaught exceptions in the page: {watch.page_errors}"
    assert not watch.http_errors, f"HTTP error responses: {watch.http_errors}"
