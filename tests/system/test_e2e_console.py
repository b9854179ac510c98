"""The operator's console in a real browser (headless Chromium → daphne): the health verdict going live,
counters that open their tasks, a tenant created, renamed and deactivated, the keys table at 1440 px,
the styled 404, and no horizontal overflow on a 390 px phone."""

import contextlib
import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from jobs.lifecycle import Status
from tenants.models import Tenant
from tests.support.browser import ARTIFACTS, TIMEOUT_MS, BrowserWatch, ConsoleServer
from tests.support.builders import add_task, add_worker, slot

pytestmark = pytest.mark.django_db(transaction=True)

USERNAME = "e2e-console"
PASSWORD = "e2e-console-pw-1"  # noqa: S105 — a throwaway account in the test database


def log_in(page: Page, base: str, next_url: str = "/") -> None:
    User.objects.create_superuser(USERNAME, email="c@example.com", password=PASSWORD)
    page.goto(f"{base}/login/?next={next_url}")
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def overflow(page: Page) -> int:
    """Pixels the page is wider than the viewport (0: no sideways scroll)."""
    return int(page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth"))


def check_watch(watch: BrowserWatch, expected_404: str = "") -> None:
    """Nothing went wrong in the page, but the one 404 the test asked for (Chromium logs it as an error)."""
    errors = [e for e in watch.unexpected_console_errors() if not (expected_404 and "404" in e and expected_404 in e)]
    assert not errors, f"browser console errors: {watch.console_errors}"
    assert not watch.page_errors, f"uncaught exceptions in the page: {watch.page_errors}"
    assert not watch.unexpected_failures(), f"failed requests: {watch.failed_requests}"


def test_verdict_goes_live_and_tenants_are_managed(console_server: ConsoleServer,
                                                   browser_page: tuple[Page, BrowserWatch]) -> None:
    page, watch = browser_page
    page.set_viewport_size({"width": 1440, "height": 900})
    tenant = Tenant.objects.create(name="Acme", slug="acme")
    waiting = add_task(tenant, "noop")
    base = console_server.url
    try:
        log_in(page, base)
        expect(page.locator("h1")).to_have_text("Overview")
        expect(page.locator("[data-verdict]")).to_have_text("Down")
        expect(page.locator('[data-reason="no_workers"]')).to_be_visible()
        expect(page.locator("[data-live-status]")).to_have_attribute("data-state", "live", timeout=TIMEOUT_MS)
        page.evaluate("() => { window.__marker = 1; }")
        add_worker(4242, slots=[slot(0), slot(1)])  # a live process: the verdict leaves "down" over the stream
        expect(page.locator("[data-health]")).to_have_attribute("data-health", re.compile("^(ok|degraded)$"))
        assert page.evaluate("() => window.__marker") == 1, "the page was reloaded"
        page.screenshot(path=str(ARTIFACTS / "console-verdict.png"), full_page=True)

        # A counter opens its filtered list.
        page.locator('[data-counter="pending"] .counter-link').click()
        expect(page).to_have_url(re.compile(r"/tasks/\?status=pending$"))
        expect(page.locator(f'tr[data-task-id="{waiting.pk}"]')).to_be_visible()

        # Create, rename, deactivate (with its confirmation).
        page.goto(f"{base}/tenants/")
        page.get_by_label("Name", exact=True).fill("Wayne Enterprises")
        page.get_by_label("Weight").fill("3")
        page.get_by_role("button", name="Create tenant").click()
        expect(page.locator("h1")).to_contain_text("Wayne Enterprises")
        expect(page.locator("#messages")).to_contain_text("Created tenant wayne-enterprises")
        page.locator(".rename-tenant").get_by_label("Name").fill("Wayne Industries")
        page.get_by_role("button", name="Rename").click()
        expect(page.locator("h1")).to_contain_text("Wayne Industries")
        page.get_by_role("button", name="Deactivate…").click()
        expect(page.locator("h1")).to_contain_text("Deactivate Wayne Industries")
        page.get_by_role("button", name="Deactivate wayne-enterprises").click()
        expect(page.locator("h1 .tag")).to_have_text("inactive")
        wayne = Tenant.objects.get(slug="wayne-enterprises")
        assert (wayne.name, wayne.weight, wayne.active) == ("Wayne Industries", 3, False)

        # The keys table fits at 1440 px: Revoke inside its panel, no sideways scroll.
        page.get_by_label("Name", exact=True).last.fill("billing")
        page.get_by_role("button", name="Create key").click()
        revoke = page.get_by_role("button", name=re.compile("^Revoke key"))
        expect(revoke).to_be_visible()
        box, panel = revoke.bounding_box(), page.locator("#keys-panel").bounding_box()
        assert box and panel and box["x"] + box["width"] <= panel["x"] + panel["width"], (box, panel)
        assert page.evaluate("() => { const w = document.querySelector('#keys-panel .table-wrap');"
                             " return w.scrollWidth <= w.clientWidth; }"), "the keys table scrolls sideways"
        assert overflow(page) <= 0
    except BaseException:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(ARTIFACTS / "console-failure.png"), full_page=True)
        raise
    check_watch(watch)


def test_phone_has_no_horizontal_overflow_and_404_has_navigation(console_server: ConsoleServer,
                                                                 browser_page: tuple[Page, BrowserWatch]) -> None:
    page, watch = browser_page
    page.set_viewport_size({"width": 390, "height": 844})
    tenant = Tenant.objects.create(name="Umbrella Health", slug="umbrella-health")
    for _ in range(3):
        add_task(tenant, "send_email_with_a_rather_long_type_name", queue="notifications-eu-west")
    running = add_task(tenant, "sleep", status=Status.RUNNING, timeout=120)
    add_worker(7, instance="worker-host-with-a-long-name", slots=[slot(0, running, running_s=100), slot(1)])
    base = console_server.url
    try:
        log_in(page, base)
        expect(page.locator("[data-verdict]")).to_be_visible()
        for path, ready in (("/", "[data-verdict]"), ("/tasks/", "table.tasks"),
                            ("/tenants/umbrella-health/", "#keys-panel"), ("/tenants/", "h1"),
                            ("/dead-letter/", "h1"), ("/analytics/", "h1")):
            page.goto(f"{base}{path}")
            expect(page.locator(ready).first).to_be_visible()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"phone{path.replace('/', '-').rstrip('-') or '-overview'}.png"),
                            full_page=True)
            assert overflow(page) <= 0, f"{path} is {overflow(page)} px wider than the 390 px viewport"
        page.goto(f"{base}/tasks/99999999/")
        expect(page.locator("h1")).to_have_text("Not found")
        expect(page.get_by_role("navigation", name="Console sections")).to_be_visible()
        assert overflow(page) <= 0
        page.get_by_role("link", name="Overview").first.click()
        expect(page.locator("h1")).to_have_text("Overview")
    except BaseException:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(ARTIFACTS / "phone-failure.png"), full_page=True)
        raise
    assert [s for s, u in watch.http_errors if "/tasks/99999999/" not in u] == [], watch.http_errors
    check_watch(watch, expected_404="/tasks/99999999/")
