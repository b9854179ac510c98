"""Fixtures of the end-to-end browser test (tests/test_e2e.py).

* ``console_server``: a real daphne subprocess serving ``engine_site.asgi`` (Django's views and
  the ``/console/events`` SSE stream) on a free port, against this test's database — the same
  approach as tests/streams/conftest.py.
* ``browser_page``: Debian's Chromium (``/usr/bin/chromium``, installed by
  ``scripts/setup-system.sh test``) driven by Playwright's sync API, headless, with a fresh
  profile; every console error, page error, failed request and HTTP error it sees is recorded
  in a ``BrowserWatch``.

A missing Chromium or Playwright fails the test loudly: there is no skip.
"""

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import BACKEND, ROOT, DaphneServer

try:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Response, expect, sync_playwright
except ImportError as exc:  # a collection error, never a skip
    raise ImportError("Playwright is not installed: `.venv/bin/pip install -r requirements-dev.txt` "
                      "(the Python package only; the browser is Debian's chromium)") from exc

#: Screenshots (and the server logs of the run) land here, one folder per pass.
ARTIFACTS = ROOT / "test-artifacts" / f"e2e-{BACKEND}"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
#: Generous, for a loaded 2-core machine: conditions are awaited, never slept for.
TIMEOUT_MS = 45_000


#: The console's server: the shared test daphne, with a short SSE heartbeat.
ConsoleServer = DaphneServer


@pytest.fixture(name="console_server")
def fixture_console_server(worker_env: dict[str, str], tmp_path: Path) -> Iterator[ConsoleServer]:
    server = DaphneServer(worker_env, tmp_path / "daphne.log", {"JOBS_SSE_HEARTBEAT_SECONDS": "2"})
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(server.log_path, ARTIFACTS / "daphne.log")


@dataclass
class BrowserWatch:
    """What went wrong in the browser: console errors, uncaught exceptions, failed requests, HTTP errors."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[tuple[str, str, str]] = field(default_factory=list)  # (method, url, failure)
    http_errors: list[tuple[int, str]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)
        page.on("request", lambda req: self.requests.append(req.url))

    def _console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error":
            self.console_errors.append(f"{msg.text} (at {msg.location.get('url', '?')})")

    def _failed(self, req: Request) -> None:
        self.failed_requests.append((req.method, req.url, req.failure or "?"))

    def _response(self, resp: Response) -> None:
        if resp.status >= 400:
            self.http_errors.append((resp.status, resp.url))

    def unexpected_console_errors(self) -> list[str]:
        """Console errors (none are expected)."""
        return list(self.console_errors)

    def unexpected_failures(self) -> list[tuple[str, str, str]]:
        """Failed requests, except the console's SSE stream aborted when the page navigates away."""
        return [(m, u, f) for m, u, f in self.failed_requests
                if not (u.split("?")[0].endswith("/console/events") and "ERR_ABORTED" in f)]


def chromium_path() -> str:
    found = shutil.which("chromium")
    if not found:
        pytest.fail("Debian's chromium is not installed (no `chromium` on PATH): run `make test`, whose "
                    "`scripts/setup-system.sh test` installs it. The end-to-end test never skips.", pytrace=False)
    return found


@pytest.fixture(name="browser")
def fixture_browser(console_server: ConsoleServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:
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


@pytest.fixture(name="browser_page")
def fixture_browser_page(browser: Browser) -> Iterator[tuple[Page, BrowserWatch]]:
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
