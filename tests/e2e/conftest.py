"""Browser fixtures: real headless Chromium driven by Python Playwright (no ``playwright install``).

* ``chromium`` (session): the launched browser. Skips with the reason when ``/usr/bin/chromium`` is
  missing on a developer machine, but fails under CI (:func:`tests.support.env.in_ci`) where it must be installed
  (``apt-get install -y chromium``).
* ``offline_page`` (function): a page in a fresh context where every request except the pages
  opened with :meth:`OfflinePage.open` is aborted and recorded, with dialogs, console messages and
  page errors collected, so a test can assert that a static page fetched nothing and ran nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.env import unavailable

if TYPE_CHECKING:  # pragma: no cover
    from playwright.sync_api import Browser, Page

CHROMIUM = Path(os.environ.get("NBPIPE_CHROMIUM", "/usr/bin/chromium"))
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """Launch headless Chromium once per session."""
    if not CHROMIUM.exists():
        reason = (
            f"Chromium is not installed at {CHROMIUM}: run `apt-get install -y chromium` "
            "(or set NBPIPE_CHROMIUM to its path)"
        )
        unavailable(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class OfflinePage:
    """A page that may load only the files given to :meth:`open`; everything else is recorded."""

    page: Page
    allowed: set[str] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def open(self, path: Path) -> Page:
        """Navigate to a local file and wait until it has loaded."""
        url = path.resolve().as_uri()
        self.allowed.add(url)
        self.page.goto(url, wait_until="load")
        return self.page

    @property
    def unexpected_requests(self) -> list[str]:
        """Every request the page made other than the opened files (blocked or not routable)."""
        return sorted({u for u in self.requests if u not in self.allowed} | set(self.blocked))


@pytest.fixture
def offline_page(chromium: Browser) -> Iterator[OfflinePage]:
    """A fresh page with all network access aborted and recorded."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
    page = context.new_page()
    watch = OfflinePage(page)

    def route(route: Any) -> None:
        if route.request.url in watch.allowed:
            route.continue_()
        else:
            watch.blocked.append(route.request.url)
            route.abort()

    def dialog(d: Any) -> None:
        watch.dialogs.append(f"{d.type}: {d.message}")
        d.dismiss()

    context.route("**/*", route)
    page.on("request", lambda request: watch.requests.append(request.url))
    page.on("dialog", dialog)
    page.on("console", lambda message: watch.console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: watch.page_errors.append(str(error)))
    try:
        yield watch
    finally:
        context.close()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """``test-artifacts/`` at the repository root (git-ignored): screenshots for humans."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
