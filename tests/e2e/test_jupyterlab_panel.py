"""A person in JupyterLab runs a pipeline in production, cancels one and promotes, from the panel.

Real JupyterLab on 127.0.0.1 with a token (one server for the module), real headless Chromium
(Playwright), a real kernel with ipywidgets' front end, real ``nbpipe run`` subprocesses and a real
SQLite store, on the small non-Spark panel project (``tests/support/panel.py``). Screenshots go to
``test-artifacts/jupyterlab-panel*.png``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from tests.e2e.conftest import jupyter_lab
from tests.support.panel import CHECK_CELL, KERNEL, build_panel_project

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WAIT_MS = 300_000


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The panel project with an explore notebook showing both pipelines' panels; (notebook url, root)."""
    root = build_panel_project(tmp_path_factory.mktemp("panel-lab") / "project")
    cells = ["import nbpipe\nctx = nbpipe.context()", CHECK_CELL, "ctx.panel('demo')", "ctx.panel('slow')"]
    book = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells], metadata=KERNEL)
    for i, cell in enumerate(book.cells):
        cell["id"] = f"cell-{i}"
    nbformat.write(book, root / "explore.ipynb")
    with jupyter_lab(root, tmp_path_factory.mktemp("jupyter")) as (base, token):
        yield f"{base}/lab/tree/explore.ipynb?token={token}", root


def run_all(page) -> None:
    page.locator(".jp-Notebook .jp-Cell").first.click()
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.locator(".lm-Menu-content .lm-Menu-item", has_text="Run All Cells").first.click()


def test_run_cancel_and_history_from_the_panel(lab, chromium, artifacts_dir) -> None:
    url, root = lab
    context = chromium.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url)
            if not r.url.startswith(("http://127.0.0.1", "data:", "blob:", "about:")) else None)
    try:
        page.goto(url, wait_until="domcontentloaded", timeout=120_000)
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)
        page.locator(".jp-StatusBar-Widget", has_text="Idle").first.wait_for(timeout=WAIT_MS)
        run_all(page)
        panels = page.locator(".nbpipe-panel")
        panels.nth(1).wait_for(timeout=WAIT_MS)
        demo, slow = panels.nth(0), panels.nth(1)
        # The check result is shown once under its cell, as a widget with the failing-example picker.
        per_cell = page.evaluate(
            """() => [...document.querySelectorAll('.jp-CodeCell')]
                       .map(c => c.querySelectorAll('.nbpipe-check').length)""")
        assert per_cell[1] == 1, f"check tables per cell: {per_cell}"
        assert page.locator(".nbpipe-check-widget select").count() == 1

        # An invalid date (before the pipeline's minimum) is refused beside the field.
        date = demo.locator(".widget-datepicker input")
        assert demo.locator(".widget-datepicker .widget-label").get_attribute("title") == "the day to process"
        date.fill("2012-05-01")
        date.dispatch_event("change")
        error = demo.locator(".nbpipe-param-error").first
        error.filter(has_text="below the minimum").wait_for(timeout=60_000)
        date.fill("2013-03-04")
        date.dispatch_event("change")
        page.wait_for_function("() => document.querySelector('.nbpipe-param-error').textContent === ''",
                               timeout=60_000)
        demo.locator("input[type=password]").fill("tok-from-the-browser")

        demo.locator("button", has_text="Run in production").click()
        link = demo.locator("a.nbpipe-report-link")
        link.wait_for(timeout=WAIT_MS)
        status = demo.locator(".nbpipe-run-status").inner_text()
        assert "succeeded" in status, status
        assert demo.locator(".nbpipe-progress .progress-bar-success").count() == 1
        run_id = status.split("run ")[1].split()[0]
        page.screenshot(path=str(artifacts_dir / "jupyterlab-panel.png"), full_page=False)
        # The link opens the run's report in JupyterLab.
        with context.expect_page(timeout=60_000) as opened:
            link.click()
        report = opened.value
        report.wait_for_load_state("domcontentloaded")
        assert f"runs/demo/{run_id}/report.html" in report.url
        report.locator(".jp-HTMLViewer iframe, iframe").first.wait_for(timeout=WAIT_MS)
        frame = report.frame_locator("iframe").first
        frame.locator("text=succeeded").first.wait_for(timeout=WAIT_MS)
        report.screenshot(path=str(artifacts_dir / "jupyterlab-panel-report.png"), full_page=False)
        report.close()
        # Recent runs lists it.
        demo.locator(".lm-TabBar-tab", has_text="Recent runs").click()
        demo.locator(f"tr[data-run-id='{run_id}']").wait_for(timeout=WAIT_MS)
        record = root / "runs" / "demo" / run_id / "run.json"
        assert "tok-from-the-browser" not in record.read_text()

        # A slow run is cancelled: recorded as cancelled, nothing published.
        slow.locator("button", has_text="Run in production").click()
        slow.locator("text=cell 4/4").wait_for(timeout=WAIT_MS)
        slow.locator("button", has_text="Cancel").click()
        slow.locator(".nbpipe-status-cancelled").wait_for(timeout=WAIT_MS)
        cancelled_id = slow.locator(".nbpipe-run-status").inner_text().split("run ")[1].split()[0]
        slow.locator(".lm-TabBar-tab", has_text="Recent runs").click()
        row = slow.locator(f"tr[data-run-id='{cancelled_id}']")
        row.wait_for(timeout=WAIT_MS)
        assert "cancelled" in row.inner_text()
        page.screenshot(path=str(artifacts_dir / "jupyterlab-panel-cancelled.png"), full_page=False)
        run_dir = root / "runs" / "slow" / cancelled_id
        assert json.loads((run_dir / "run.json").read_text())["status"] == "cancelled"
        assert not (run_dir / "staging").exists()
        kinds = [json.loads(line)["kind"] for line in (run_dir / "events.jsonl").read_text().splitlines()]
        assert "published" not in kinds and "state_committed" not in kinds
        assert not outside, f"the page fetched from outside 127.0.0.1: {outside[:5]}"
    finally:
        page.screenshot(path=str(artifacts_dir / "jupyterlab-panel-final.png"), full_page=False)
        context.close()
