"""The Analytics and Task types pages in a real browser (headless Chromium → daphne), desktop and 390 px:
both failure rates labelled, every window named, the status breakdown equal to the per-tenant column,
and no horizontal overflow on a phone."""

import contextlib

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Page, expect

from jobs.lifecycle import Status
from jobs.store import rollups
from tenants.models import Tenant
from tests.support.browser import ARTIFACTS, BrowserWatch, ConsoleServer
from tests.support.builders import add_task, finish

pytestmark = pytest.mark.django_db(transaction=True)

USERNAME = "e2e-analytics"
PASSWORD = "e2e-analytics-pw-1"  # noqa: S105 — a throwaway account in the test database


def _overflow(page: Page) -> bool:
    return bool(page.evaluate("() => document.documentElement.scrollWidth > window.innerWidth"))


def _too_wide(page: Page) -> list[str]:
    """The first elements reaching past the viewport (what to fix when a page overflows)."""
    return list(page.evaluate("""() => [...document.querySelectorAll('main *')]
        .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 8)
        .map(e => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}px`)"""))


def test_analytics_numbers_agree_and_fit_a_phone(console_server: ConsoleServer,
                                                browser_page: tuple[Page, BrowserWatch]) -> None:
    page, watch = browser_page
    for slug, failed in (("acme", 3), ("globex", 2)):
        tenant = Tenant.objects.create(name=slug.capitalize(), slug=slug)
        for _ in range(failed):
            finish(add_task(tenant, "call_webhook"), Status.FAILED)
        for _ in range(5):
            finish(add_task(tenant, "call_webhook"), Status.COMPLETED)
        rollups.record([], retried=[rollups.Retried(tenant.pk, "call_webhook", timezone.now())] * 4)
    User.objects.create_superuser(USERNAME, email="a@example.com", password=PASSWORD)
    base = console_server.url
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        page.goto(f"{base}/login/?next=/analytics/")
        page.get_by_label("Username").fill(USERNAME)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.locator("h1")).to_have_text("Analytics")
        failed = page.locator('tr[data-status="failed"] [data-window-count]')
        expect(failed).to_have_text("5")
        per_tenant = page.locator("[data-failed-window]").all_inner_texts()
        assert sum(int(n) for n in per_tenant) == 5
        # 5 dead-lettered + 8 retried runs failed of 23; 5 of 15 finished tasks are in the dead letter.
        expect(page.locator('[data-metric="attempt-rate"]')).to_contain_text("56.5% (13 of 23)")
        expect(page.locator('[data-metric="dead-letter-rate"]')).to_contain_text("33.3%")
        expect(page.get_by_role("heading", name="Queue wait vs execution (last hour)")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "analytics-rates.png"), full_page=True)
        page.goto(f"{base}/types/")
        row = page.locator('tr[data-type="call_webhook"]')
        expect(row.locator('[data-metric="attempt-rate"]')).to_have_text("56.5% ⚠ high (13 of 23)")
        expect(row.locator('[data-metric="dead-letter-rate"]')).to_have_text("33.3%")
        page.screenshot(path=str(ARTIFACTS / "types-rates.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        for path in ("/analytics/", "/types/"):
            page.goto(f"{base}{path}")
            assert not _overflow(page), f"{path} overflows a 390 px screen: {_too_wide(page)}"
            page.screenshot(path=str(ARTIFACTS / f"{path.strip('/')}-rates-390.png"), full_page=True)
    except BaseException:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(ARTIFACTS / "analytics-failure.png"), full_page=True)
        raise
    assert not watch.unexpected_console_errors(), f"browser console errors: {watch.console_errors}"
    assert not watch.page_errors, f"uncaught exceptions in the page: {watch.page_errors}"
    assert not watch.http_errors, f"HTTP error responses: {watch.http_errors}"
