"""A person in JupyterLab: open the explore notebook, run all cells, see schemas and checks.

Real JupyterLab on 127.0.0.1 with a token, real headless Chromium (Playwright), a real kernel and
real Spark on a small landing zone. A screenshot is saved to ``test-artifacts/jupyterlab.png``.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import jupyter_lab

pytestmark = [pytest.mark.browser, pytest.mark.spark, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
RUN_ALL_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The example project (a copy, 3 landed days) served by JupyterLab; yields (base url, root)."""
    from nbpipe.examples.flights import land

    root = tmp_path_factory.mktemp("lab") / "flights"
    root.mkdir()
    shutil.copy(REPO / "nbpipe.yaml", root / "nbpipe.yaml")
    for folder in ("notebooks", "contracts", "expectations"):
        shutil.copytree(REPO / folder, root / folder)
    land(root, days=3)
    with jupyter_lab(root, tmp_path_factory.mktemp("jupyter")) as (base, token):
        yield f"{base}/lab/tree/notebooks/explore_flights.ipynb?token={token}", root


def _started(page) -> bool:
    return page.evaluate(
        """() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
                   .some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))"""
    )


def run_all(page) -> None:
    """Run all cells from the Run menu; if nothing starts, use the toolbar's restart-and-run-all."""
    page.locator(".jp-Notebook .jp-Cell").first.click()
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.locator(".lm-Menu-content .lm-Menu-item", has_text="Run All Cells").first.click()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if _started(page):
            return
        page.wait_for_timeout(500)
    page.locator("[data-command='notebook:restart-run-all']").first.click()
    page.locator(".jp-Dialog .jp-mod-accept").first.click()
    page.wait_for_function(
        """() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
                   .some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))""",
        timeout=60_000,
    )


def test_explore_notebook_runs_in_jupyterlab(lab, chromium, artifacts_dir):
    url, root = lab
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    outside: list[str] = []
    page.on(
        "request",
        lambda r: (
            outside.append(r.url) if not r.url.startswith(("http://127.0.0.1", "data:", "blob:", "about:")) else None
        ),
    )
    try:
        page.goto(url, wait_until="domcontentloaded", timeout=120_000)
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)
        # The kernel session is ready when the status bar names the kernel and says Idle.
        page.locator(".jp-StatusBar-Widget", has_text="Idle").first.wait_for(timeout=180_000)
        run_all(page)
        # Done when the kernel is idle again, nothing is queued, and the first cell has run.
        page.wait_for_function(
            """() => {
                const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
                const started = prompts.length > 0 && /\\[\\d+\\]/.test(prompts[0].textContent);
                const queued = prompts.some(p => p.textContent.includes('[*]'));
                const idle = document.querySelector(".jp-Notebook-ExecutionIndicator[data-status='idle']");
                return started && !queued && idle !== null;
            }""",
            timeout=RUN_ALL_TIMEOUT_S * 1000,
            polling=1000,
        )
        prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
        outputs = page.locator(".jp-OutputArea-output")
        text = "\n".join(outputs.all_inner_texts())
        page.locator(".jp-OutputArea-output", has_text="expect_").first.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts_dir / "jupyterlab.png"), full_page=False)
        assert "Traceback" not in text, text[-3000:]
        assert all(re.search(r"\[\d+\]", p) for p in prompts), f"not every cell ran: {prompts}"
        # The explore read shows the inferred schema and row count (a rich HTML view).
        assert page.locator(".jp-OutputArea-output table").count() > 0
        assert "dep_delay" in text and "carrier" in text
        assert "rows" in text.lower()
        # The quality check renders its expectations table inline.
        assert "expect_" in text, "ctx.check results are rendered inline"
        # ... once per cell: the call shows it, the cell's value does not show it again.
        per_cell = page.evaluate(
            """() => [...document.querySelectorAll('.jp-CodeCell')]
                       .map(c => c.querySelectorAll('.nbpipe-check').length).filter(n => n > 0)"""
        )
        assert per_cell and all(n == 1 for n in per_cell), f"check tables per cell: {per_cell}"
        # Explore writes go to the sandbox only; production data is untouched.
        assert not (root / "warehouse" / "flights").exists()
        assert not outside, f"the page fetched from outside 127.0.0.1: {outside[:5]}"
    finally:
        page.screenshot(path=str(artifacts_dir / "jupyterlab-final.png"), full_page=False)
        context.close()
