"""Webhooks in a real browser (headless Chromium → daphne): create an endpoint, copy the secret shown
once, open it, delete it after the confirmation page."""

import contextlib

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from jobs.models import Webhook
from tenants.models import Tenant
from tests.support.browser import ARTIFACTS, BrowserWatch, ConsoleServer

pytestmark = pytest.mark.django_db(transaction=True)

USERNAME = "e2e-hooks"
PASSWORD = "e2e-hooks-pw-1"  # noqa: S105 — a throwaway account in the test database


def test_create_then_delete_an_endpoint(console_server: ConsoleServer, browser_page: tuple[Page, BrowserWatch]) -> None:
    page, watch = browser_page
    Tenant.objects.create(name="Acme", slug="acme")
    User.objects.create_superuser(USERNAME, email="h@example.com", password=PASSWORD)
    base = console_server.url
    try:
        page.goto(f"{base}/login/?next=/webhooks/")
        page.get_by_label("Username").fill(USERNAME)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.locator("h1")).to_have_text("Webhooks")
        page.get_by_label("URL").fill("http://127.0.0.1:9/hook")
        page.get_by_label("task.cancelled").check()
        page.get_by_role("button", name="Create endpoint").click()
        secret = page.locator("#new-secret")
        expect(secret).to_have_value(Webhook.objects.get().secret)
        hook = Webhook.objects.get()
        assert hook.events == ["task.completed", "task.failed", "task.cancelled"]
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "webhooks-created.png"), full_page=True)

        page.locator(f'tr[data-webhook="{hook.pk}"] a').click()
        expect(page.locator("h1")).to_have_text(f"Webhook {hook.pk}")
        page.get_by_role("link", name="Delete…").click()
        expect(page.locator("h1")).to_contain_text(f"Delete webhook {hook.pk} of acme?")
        page.get_by_role("button", name="Delete it").click()
        expect(page.locator("[data-webhook]")).to_have_count(0)
        expect(page.locator("#messages")).to_contain_text(f"Deleted webhook {hook.pk}")
        assert not Webhook.objects.exists()
    except BaseException:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(ARTIFACTS / "webhooks-failure.png"), full_page=True)
        raise
    assert not watch.unexpected_console_errors(), f"browser console errors: {watch.console_errors}"
    assert not watch.page_errors, f"uncaught exceptions in the page: {watch.page_errors}"
    assert not watch.http_errors, f"HTTP error responses: {watch.http_errors}"
