"""Debian's Chromium driven by Playwright: where screenshots go, and what went wrong in the page."""

import shutil
from dataclasses import dataclass, field

import pytest

from tests.support import BACKEND, ROOT
from tests.support.processes import DaphneServer

try:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Response, expect, sync_playwright
except ImportError as exc:  # a collection error, never a skip
    raise ImportError("Playwright is not installed: `.venv/bin/pip install -r requirements-dev.txt` "
                      "(the Python package only; the browser is Debian's chromium)") from exc

__all__ = ["ARTIFACTS", "CHROMIUM_ARGS", "TIMEOUT_MS", "Browser", "BrowserWatch", "ConsoleMessage", "ConsoleServer",
           "Page", "Request", "Response", "chromium_path", "expect", "sync_playwright"]

#: Screenshots (and the server logs of the run) land here, one folder per pass.
ARTIFACTS = ROOT / "test-artifacts" / f"e2e-{BACKEND}"

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]

#: Generous, for a loaded 2-core machine: conditions are awaited, never slept for.
TIMEOUT_MS = 45_000


#: The console's server: the shared test daphne, with a short SSE heartbeat.
ConsoleServer = DaphneServer


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
