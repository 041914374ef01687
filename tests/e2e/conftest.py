"""Browser fixtures: real headless Chromium driven by Python Playwright (no ``playwright install``).

* ``chromium`` (session): the launched browser. Skips with the reason when ``/usr/bin/chromium`` is
  missing on a developer machine, but fails under CI (:func:`tests.support.env.in_ci`) where it must be installed
  (``apt-get install -y chromium``).
* ``offline_page`` (function): a page in a fresh context where every request except the pages
  opened with :meth:`OfflinePage.open` is aborted and recorded, with dialogs, console messages and
  page errors collected, so a test can assert that a static page fetched nothing and ran nothing.
* :func:`jupyter_lab`: a real ``jupyter lab`` on 127.0.0.1 serving a directory, with its own Jupyter
  dirs and a kernelspec for this interpreter (the JupyterLab tests start one per module).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.env import free_port, unavailable

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


@contextlib.contextmanager
def jupyter_lab(root: Path, home: Path, extra_env: dict[str, str] | None = None) -> Iterator[tuple[str, str]]:
    """Serve ``root`` with JupyterLab (its Jupyter dirs under ``home``); yields (base url, token)."""
    port, token = free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        **(extra_env or {}),
    }
    env.pop("PYTEST_CURRENT_TEST", None)
    # Render every cell (JupyterLab 4 windows long notebooks, dropping off-screen cells from the DOM),
    # and do not ask about news.
    settings = home / "settings"
    (settings / "@jupyterlab" / "notebook-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        '{"windowingMode": "none"}'
    )
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false"}'
    )
    env["JUPYTERLAB_SETTINGS_DIR"] = str(settings)
    # Kernels must use this interpreter (the project's venv), whatever kernelspecs the machine has.
    subprocess.run(
        [sys.executable, "-m", "ipykernel", "install", "--prefix", str(home / "prefix"), "--name", "python3"],
        check=True,
        capture_output=True,
        env=env,
    )
    env["JUPYTER_PATH"] = str(home / "prefix" / "share" / "jupyter")
    log = (home / "lab.log").open("wb")
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip",
        "127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
    ]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as resp:
                if resp.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"jupyter lab did not start; log:\n{(home / 'lab.log').read_text()[-3000:]}")
        time.sleep(0.5)
    try:
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
