"""Fixtures of the end-to-end browser test.

* ``console_server``: a real daphne subprocess serving ``engine_site.asgi`` (Django's views and
  the ``/console/events`` SSE stream) on a free port, against this test's database — the same
  approach as tests/conftest.py.
* ``browser_page``: Debian's Chromium (``/usr/bin/chromium``, installed by
  ``scripts/setup-system.sh test``) driven by Playwright's sync API, headless, with a fresh
  profile; every console error, page error, failed request and HTTP error it sees is recorded
  in a ``BrowserWatch``.

A missing Chromium or Playwright fails the test loudly: there is no skip.
"""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser import (
    ARTIFACTS,
    CHROMIUM_ARGS,
    TIMEOUT_MS,
    Browser,
    BrowserWatch,
    ConsoleServer,
    Page,
    chromium_path,
    expect,
    sync_playwright,
)


@pytest.fixture
def console_server(worker_env: dict[str, str], tmp_path: Path) -> Iterator[ConsoleServer]:
    # (a 5 s give-up, as the API tests: ids deleted by earlier tests are not awaited for minutes)
    server = ConsoleServer(worker_env, tmp_path / "daphne.log", {"JOBS_SSE_HEARTBEAT_SECONDS": "2",
                                                                 "JOBS_SSE_GAP_SECONDS": "5"})
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(server.log_path, ARTIFACTS / "daphne.log")


@pytest.fixture
def browser(console_server: ConsoleServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:
    """Headless Chromium with a fresh profile (``launch`` creates and removes a temporary user-data-dir).

    Requests ``console_server`` so the browser closes before the server stops.
    """
    executable = chromium_path()
    # Playwright's sync API keeps its event loop running in this thread, which Django's ORM takes
    # for an async context; the test's own ORM calls (plain sync code) are safe. Set after
    # ``worker_env`` was read, so the subprocesses never see it.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as pw:
        try:
            instance = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS,
                                          timeout=TIMEOUT_MS)
        except Exception as exc:
            pytest.fail(f"Chromium ({executable}) did not start under Playwright: {exc}", pytrace=False)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def browser_page(browser: Browser) -> Iterator[tuple[Page, BrowserWatch]]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US", timezone_id="UTC")
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)  # assertions retry this long (Playwright's default: 5 s)
    page = context.new_page()
    watch = BrowserWatch()
    watch.attach(page)
    try:
        yield page, watch
    finally:
        context.close()
