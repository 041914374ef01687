"""report.html in real headless Chromium: nothing fetched, nothing executed, the jump link works.

The notebook is executed for real (nbclient, python3 kernel) and carries script payloads in
markdown, HTML, JavaScript, SVG and pandas outputs; a cell near the end raises.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from nbpipe.report.run_report import render_report

pytestmark = pytest.mark.browser

PWN = "window.__pwned = 1; alert('pwned')"
EVIL_HTML = (
    f'<img src="x" onerror="{PWN}"><iframe src="https://evil.example/"></iframe>'
    '<img src="https://evil.example/p.png"><link rel="stylesheet" href="https://evil.example/c.css">'
    f'<script>{PWN}</script><a href="javascript:{PWN}">click me</a>'
)
EVIL_SVG = f'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"><script>{PWN}</script></svg>'
EVIL_CELL = f"<script>{PWN}</script>"
SOURCES = [
    f'# Browser fixture\n<script>{PWN}</script><img src=x onerror="{PWN}"> <a href="javascript:{PWN}">md</a>',
    f"import pandas as pd\npd.DataFrame({{'carrier': ['UA', {EVIL_CELL!r}], 'n': [1, 2]}})",
    "%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()",
    "from IPython.display import HTML, Javascript, SVG, display\n"
    f"display(HTML({EVIL_HTML!r}))\ndisplay(Javascript({PWN!r}))\ndisplay(SVG({EVIL_SVG!r}))",
    *[f"rows_{i} = {i} * 1000\nprint('step', {i}, rows_{i})" for i in range(12)],
    "raise RuntimeError('landing file is truncated')",
    "print('never runs')",
]
FAILING = len(SOURCES) - 2


@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    tmp = tmp_path_factory.mktemp("browser-report")
    cells = [new_markdown_cell(SOURCES[0])] + [new_code_cell(s) for s in SOURCES[1:]]
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})
    client = NotebookClient(
        nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(tmp)}}
    )
    with pytest.raises(CellExecutionError, match="landing file is truncated"):
        client.execute()
    assert [o.output_type for o in nb.cells[FAILING].outputs] == ["error"]
    nbformat.write(nb, tmp / "output.ipynb")
    record = {
        "run_id": "20130105T060000Z-9f3c", "pipeline": "ingest_flights", "status": "failed", "exit_code": 10,
        "mode": "prod", "profile": "dev", "quality": "warned",
        "started_at": "2013-01-05T06:00:00+00:00", "ended_at": "2013-01-05T06:01:05+00:00",
        "duration_s": 65.2,
        "params": {"run_date": "2013-01-05"},
        "error": {"type": "CellExecutionError", "message": "RuntimeError: landing file is truncated",
                  "cell_index": FAILING, "hint": "re-deliver the landing file, then retry"},
        "datasets": {"inputs": [{"dataset": "raw_flights", "rows": 901, "bytes": 70_000}], "outputs": []},
        "retry_command": "nbpipe run ingest_flights -p run_date=2013-01-05",
    }  # fmt: skip
    return render_report(record, tmp / "output.ipynb", tmp / "report.html")


def test_report_in_chromium(report_html: Path, offline_page: Any, artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    page = offline_page.open(report_html)

    assert page.evaluate("typeof window.__pwned") == "undefined"
    expect(page.locator("#nbpipe-status")).to_have_text("failed")
    expect(page.locator("#nbpipe-failure")).to_be_in_viewport()
    expect(page.locator(".nb-title")).to_have_text("ingest_flights")
    expect(page.locator(".jp-RenderedImage img").first).to_be_visible()
    assert page.evaluate("document.querySelector('.jp-RenderedImage img').naturalWidth") > 0, (
        "plot PNG decodes"
    )
    page.screenshot(path=str(artifacts_dir / "report.png"))

    target = page.locator(f"#cell-{FAILING}")
    expect(target).not_to_be_in_viewport()
    page.locator("#nbpipe-failing-cell-link").click()
    expect(target).to_be_in_viewport()
    assert page.url.endswith(f"#cell-{FAILING}")
    expect(target).to_contain_text("landing file is truncated")
    page.screenshot(path=str(artifacts_dir / "report-failing-cell.png"))
    page.screenshot(path=str(artifacts_dir / "report-full.png"), full_page=True)

    assert offline_page.unexpected_requests == []
    assert offline_page.dialogs == []
    assert offline_page.page_errors == []
    assert not [m for m in offline_page.console if "Content Security Policy" in m or "Refused" in m]
    assert page.evaluate("typeof window.__pwned") == "undefined"
