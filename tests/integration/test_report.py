"""report.html: summary content, jump link, masking, self-containment, sanitizing, size bounds.

The main fixture notebook is executed for real by papermill on the python3 kernel: a markdown cell
and outputs carrying script/onerror/javascript:/iframe/remote-image payloads, a pandas table with
"<script>" in its data, a matplotlib plot, a secret parameter, ANSI output and a failing cell.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import nbformat
import pytest
from bs4 import BeautifulSoup
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from nbpipe.report import run_report as report
from nbpipe.report.run_report import render_report, sanitize_html

SECRET = "s3cr3t-T0KEN-value"
PAYLOAD = "window.__pwned=1"
KERNEL = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
EVIL_HTML = (
    f"<b>bold html</b><script>{PAYLOAD}</script><img src='x' onerror='{PAYLOAD}'>"
    f"<a href='javascript:{PAYLOAD}'>js link</a><iframe src='https://evil.example/'></iframe>"
    "<img src='https://evil.example/pixel.png'><div style='background:url(https://evil.example/bg.png)'>bg</div>"
    "<link rel='stylesheet' href='https://evil.example/x.css'><svg onload='window.__pwned=1'></svg>"
)
EVIL_SVG = f'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><script>{PAYLOAD}</script></svg>'
CELLS = [
    (
        "md",
        f"# Daily flights ingest\nLoads one day. <script>{PAYLOAD}</script><img src=x onerror='{PAYLOAD}'>",
    ),
    ("params", 'run_date = "2013-01-01"\napi_token = "dev-token"'),
    (
        "code",
        "import pandas as pd\n"
        f"df = pd.DataFrame({{'carrier': ['UA', 'AA', '<script>{PAYLOAD}</script>'],\n"
        "                   'flights': [120, 98, 7]})\n"
        "df",
    ),
    (
        "code",
        "%matplotlib inline\nimport matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(4, 2))\n"
        "ax.bar(['UA', 'AA', 'B6'], [120, 98, 7])\nplt.show()",
    ),
    (
        "code",
        "from IPython.display import HTML, SVG, Javascript, Markdown, display\n"
        f"display(HTML({EVIL_HTML!r}))\ndisplay(Javascript({PAYLOAD!r}))\n"
        f"display(Markdown('md <script>{PAYLOAD}</script>'))\ndisplay(SVG({EVIL_SVG!r}))",
    ),
    ("code", 'print("\\x1b[32mloaded\\x1b[0m 3 rows for", run_date, "with token", api_token)'),
    ("code", 'raise ValueError(f"bad rows in {run_date}")'),
    ("code", 'print("never runs")'),
]
FAILING_INDEX = 7  # after papermill's injected-parameters cell (index 2)


def _build(kind_source: list[tuple[str, str]]) -> nbformat.NotebookNode:
    cells = []
    for kind, source in kind_source:
        if kind == "md":
            cells.append(new_markdown_cell(source))
        else:
            meta = {"tags": ["parameters"]} if kind == "params" else {}
            cells.append(new_code_cell(source, metadata=meta))
    return new_notebook(cells=cells, metadata=KERNEL)


def _execute(tmp: Path, name: str, cells: list[tuple[str, str]], **params: Any) -> Path:
    import papermill

    src, out = tmp / f"{name}.ipynb", tmp / f"{name}.out.ipynb"
    nbformat.write(_build(cells), src)
    try:
        papermill.execute_notebook(
            src, out, parameters=params, kernel_name="python3", progress_bar=False, cwd=str(tmp)
        )
    except papermill.PapermillExecutionError:
        pass
    return out


def _record() -> dict[str, Any]:
    return {
        "schema_version": 1, "run_id": "20130102T060000Z-ab12", "pipeline": "ingest_flights",
        "project": "/srv/flights", "notebook": "notebooks/ingest_flights.ipynb", "mode": "prod",
        "profile": "dev", "status": "failed", "exit_code": 10,
        "started_at": "2013-01-02T06:00:00+00:00", "ended_at": "2013-01-02T06:00:42.500000+00:00",
        "duration_s": 42.5, "params": {"run_date": "2013-01-02", "api_token": "***"},
        "secret_params": ["api_token"],
        "attempts": [
            {"attempt": 1, "status": "failed", "started_at": "2013-01-02T06:00:00+00:00",
             "ended_at": "2013-01-02T06:00:20+00:00", "duration_s": 20.0, "error": "ValueError: bad rows"},
            {"attempt": 2, "status": "failed", "started_at": "2013-01-02T06:00:21+00:00",
             "ended_at": "2013-01-02T06:00:42+00:00", "duration_s": 21.0, "error": "ValueError: bad rows"},
        ],
        "error": {"type": "CellExecutionError",
                  "message": "cell In [6] raised ValueError: bad rows in 2013-01-02",
                  "hint": "fix the landing data, then retry", "cell_index": FAILING_INDEX,
                  "ename": "ValueError", "evalue": "bad rows in 2013-01-02",
                  "traceback": ["\x1b[0;31mValueError\x1b[0m: bad rows in 2013-01-02"]},
        "cells": [],
        "datasets": {
            "inputs": [{"dataset": "raw_flights", "rows": 842, "bytes": 123456, "schema_version": None,
                        "rejected_rows": 0, "path": "data/landing/flights/date=2013-01-02"}],
            "outputs": [{"dataset": "flights", "rows": 830, "bytes": 45678, "schema_version": 3,
                         "rejected_rows": 12, "path": "warehouse/flights"}],
        },
        "checks": [{
            "suite": "flights_suite", "dataset": "flights", "success": False, "gate": "fail",
            "statistics": {"evaluated": 2, "successful": 1, "unsuccessful": 1},
            "results": [
                {"expectation_type": "expect_column_values_to_not_be_null", "kwargs": {"column": "carrier"},
                 "success": True, "unexpected_count": 0, "unexpected_percent": 0.0,
                 "partial_unexpected_list": [], "observed_value": None},
                {"expectation_type": "expect_column_values_to_be_between",
                 "kwargs": {"column": "dep_delay", "min_value": -60, "max_value": 1440}, "success": False,
                 "unexpected_count": 37, "unexpected_percent": 4.4, "partial_unexpected_list": [1501, -95],
                 "observed_value": None},
            ],
        }],
        "metrics": {"late_departures": 123, "mean_delay_min": 12.5},
        "state": {"before": {"raw_flights": "2013-01-01"}, "after": {"raw_flights": "2013-01-02"}},
        "quality": "failed", "warnings": ["column tailnum has 3% nulls"],
        "versions": {"python": "3.11.7", "nbpipe": "0.1.0", "papermill": "2.7.0"},
        "git": {"commit": "b001679fc3e8fe55bc464980959188bc53d49fb1", "dirty": True},
        "host": "builder-7", "pid": 4242, "cost_usd": 0.0012,
        "retry_command": "nbpipe run ingest_flights -p run_date=2013-01-02",
        "artifacts": {"notebook": "output.ipynb", "report": "report.html", "events": "events.jsonl"},
    }  # fmt: skip


def _mask(text: str) -> str:
    return text.replace(SECRET, "***")


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    return _execute(tmp, "flights", CELLS, run_date="2013-01-02", api_token=SECRET)


@pytest.fixture(scope="module")
def rendered(executed: Path) -> tuple[str, BeautifulSoup]:
    out = render_report(_record(), executed, executed.parent / "report.html", mask=_mask)
    html = out.read_text(encoding="utf-8")
    return html, BeautifulSoup(html, "html.parser")


def _text(soup: BeautifulSoup, element_id: str) -> str:
    element = soup.find(id=element_id)
    assert element is not None, f"#{element_id} missing"
    return " ".join(element.get_text(" ").split())


def test_summary_shows_every_section(rendered: tuple[str, BeautifulSoup]) -> None:
    html, soup = rendered
    assert _text(soup, "nbpipe-status") == "failed"
    header = " ".join(soup.find("header").get_text(" ").split())
    for expected in (
        "ingest_flights",
        "20130102T060000Z-ab12",
        "quality failed",
        "mode prod",
        "2013-01-02 06:00:00",
        "2013-01-02 06:00:42",
        "42.50 s",
        "$0.0012",
        "b001679fc3 · dirty",
    ):
        assert expected in header, expected
    params = _text(soup, "nbpipe-params")
    assert "run_date 2013-01-02" in params and "api_token *** secret" in params
    assert "20.00 s" in _text(soup, "nbpipe-attempts") and "21.00 s" in _text(soup, "nbpipe-attempts")
    checks = _text(soup, "nbpipe-checks")
    for expected in (
        "flights_suite",
        "1/2 expectations passed",
        "expect_column_values_to_be_between",
        "37 (4.4%)",
        "[1501, -95]",
        '"column": "dep_delay"',
    ):
        assert expected in checks, expected
    datasets = _text(soup, "nbpipe-datasets")
    for expected in ("raw_flights 842 123.5 kB", "flights 830 45.7 kB 3 12 warehouse/flights"):
        assert expected in datasets, expected
    assert "late_departures 123" in _text(soup, "nbpipe-metrics")
    assert "raw_flights 2013-01-01 2013-01-02" in _text(soup, "nbpipe-state")
    env = _text(soup, "nbpipe-environment")
    assert "b001679fc3e8fe55bc464980959188bc53d49fb1 (dirty working tree)" in env and "papermill 2.7.0" in env
    assert "nbpipe run ingest_flights -p run_date=2013-01-02" in _text(soup, "nbpipe-retry")
    assert "column tailnum has 3% nulls" in _text(soup, "nbpipe-warnings")
    # summary first: the failure box comes before the notebook, the notebook has every cell
    assert html.index('id="nbpipe-failure"') < html.index('id="nbpipe-notebook"')
    cells = _text(soup, "nbpipe-cells")
    assert "raise ValueError" in cells and "error" in cells and "not run" in cells
    bars = soup.select("#nbpipe-cells .nb-bar")
    assert bars and any("width: 100" in bar["style"] for bar in bars)


def test_failing_cell_link_points_to_existing_anchor(rendered: tuple[str, BeautifulSoup]) -> None:
    _, soup = rendered
    link = soup.find(id="nbpipe-failing-cell-link")
    assert link is not None and link["href"] == f"#cell-{FAILING_INDEX}"
    target = soup.find(id=f"cell-{FAILING_INDEX}")
    assert target is not None and "nb-cell--failed" in target["class"]
    assert "raise ValueError" in target.get_text() and "bad rows in 2013-01-02" in target.get_text()
    ids = [tag["id"] for tag in soup.find_all(id=True)]
    assert len(ids) == len(set(ids)), "duplicate ids would make anchors ambiguous"
    for href in (a["href"] for a in soup.find_all("a", href=True) if a["href"].startswith("#cell-")):
        assert soup.find(id=href[1:]) is not None, href
    failure = _text(soup, "nbpipe-failure")
    assert "CellExecutionError" in failure and "fix the landing data" in failure and "\x1b" not in failure


def test_secrets_passed_via_mask_are_absent(executed: Path, rendered: tuple[str, BeautifulSoup]) -> None:
    html, _ = rendered
    assert SECRET in executed.read_text(), "fixture must contain the secret for this test to mean anything"
    assert SECRET not in html
    assert "with token ***" in " ".join(BeautifulSoup(html, "html.parser").get_text(" ").split())


def test_no_external_resources(rendered: tuple[str, BeautifulSoup]) -> None:
    html, soup = rendered
    assert "<script" not in html.lower()
    for tag in soup.find_all(
        ["script", "link", "img", "iframe", "source", "embed", "object", "video", "audio"]
    ):
        for attr in ("src", "href", "data", "srcset"):
            value = str(tag.get(attr, ""))
            assert not re.match(r"\s*(https?:)?//", value), f"external {attr} on <{tag.name}>: {value[:80]}"
    images = soup.find_all("img")
    assert images and all(img["src"].startswith("data:image/") for img in images)
    assert any(img["src"].startswith("data:image/png;base64,iVBOR") for img in images), (
        "plot PNG not embedded"
    )
    styles = " ".join(s.get_text() for s in soup.find_all("style"))
    assert "@import" not in styles and not re.search(r"url\(\s*['\"]?(https?:)?//", styles)
    csp = soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})
    assert csp is not None and "default-src 'none'" in csp["content"]


def test_dangerous_payloads_are_neutralised(rendered: tuple[str, BeautifulSoup]) -> None:
    html, soup = rendered
    assert not soup.find_all(["script", "iframe", "object", "embed", "form", "base", "svg"])
    for tag in soup.find_all(True):
        assert not [a for a in tag.attrs if a.lower().startswith("on")], f"event handler on <{tag.name}>"
        assert "javascript:" not in str(tag.get("href", "")).lower()
        assert "url(" not in str(tag.get("style", ""))
    assert soup.find("link") is None
    cells = [td.get_text() for td in soup.select(".jp-RenderedHTMLCommon td")]
    assert f"<script>{PAYLOAD}</script>" in cells, "pandas data must show as text"
    assert "bold html" in html and "js link" in html, "the harmless part of the HTML output survives"
    assert "application/javascript output omitted" in html


def test_twenty_megabyte_output_is_truncated(tmp_path: Path) -> None:
    code = (
        "import sys\nsys.stdout.write('FIRST-LINE\\n')\nchunk = 'x' * 999 + '\\n'\n"
        "for _ in range(20_000):\n    sys.stdout.write(chunk)\nsys.stdout.write('LAST-LINE\\n')"
    )
    out = _execute(tmp_path, "big", [("code", code), ("code", "print('done')")])
    assert out.stat().st_size > 20_000_000
    html = render_report(
        {"status": "succeeded", "pipeline": "big"}, out, tmp_path / "report.html", max_output_chars=200_000
    ).read_text()
    assert len(html) < 600_000
    assert "FIRST-LINE" in html and "LAST-LINE" in html and "done" in html
    assert re.search(r"nbpipe: [\d,]{9,} characters \([\d,]+ lines\) cut here; big\.out\.ipynb has", html)
    assert "output(s) were shortened for this report" in html


def test_oversized_html_image_and_total_budget(tmp_path: Path) -> None:
    cell = new_code_cell("show()", execution_count=1)
    cell.outputs = [
        new_output(
            "display_data",
            data={
                "text/html": "<table>" + "<tr><td>1</td></tr>" * 5000 + "</table>",
                "text/plain": "<big frame>",
            },
        ),
        new_output(
            "display_data", data={"image/png": "iVBORw0KGgo" + "A" * 50_000, "text/plain": "<Figure>"}
        ),
        new_output("stream", name="stdout", text="tail output\n"),
    ]
    path = tmp_path / "nb.ipynb"
    nbformat.write(new_notebook(cells=[cell], metadata=KERNEL), path)
    html = render_report(
        {}, path, tmp_path / "r.html", max_output_chars=10_000, max_image_chars=20_000, max_total_chars=30_000
    ).read_text()
    soup = BeautifulSoup(html, "html.parser")
    assert not soup.select(".jp-RenderedHTMLCommon table"), "oversized HTML must fall back to text"
    assert "HTML output of 95,015 characters omitted" in html
    assert "image/png image of 50,011 bytes omitted" in html and not soup.find_all("img")
    assert "tail output" in html


def test_plain_papermill_record_renders(tmp_path: Path) -> None:
    out = _execute(
        tmp_path, "plain", [("params", "n = 1"), ("code", "print(n * 21)"), ("md", "## done")], n=2
    )
    html = render_report({"status": "succeeded", "run_id": "r1"}, out, tmp_path / "report.html").read_text()
    soup = BeautifulSoup(html, "html.parser")
    assert _text(soup, "nbpipe-status") == "succeeded"
    for absent in ("nbpipe-failure", "nbpipe-checks", "nbpipe-datasets", "nbpipe-metrics", "nbpipe-attempts"):
        assert soup.find(id=absent) is None, absent
    assert "42" in _text(soup, "cell-2")
    rows = soup.select("#nbpipe-cells tbody tr")
    assert len(rows) == 3 and all(r.find("a")["href"].startswith("#cell-") for r in rows)
    assert "—" not in " ".join(r.get_text() for r in rows), "papermill durations fill the cells table"
    empty = render_report({}, out, tmp_path / "empty.html").read_text()
    assert 'id="nbpipe-status"' in empty and "unknown" in empty


def test_garbled_bytes_and_missing_notebook(tmp_path: Path) -> None:
    cell = new_code_cell("print(x)", execution_count=1)
    cell.outputs = [new_output("stream", name="stdout", text="caf\ud800 \x00 ok\n")]
    raw = json.dumps(new_notebook(cells=[cell], metadata=KERNEL)).encode()
    path = tmp_path / "bad.ipynb"
    path.write_bytes(raw.replace(b" ok", b" \xff\xfe ok"))
    html = render_report(
        {"status": "failed", "error": {"type": "KernelDiedError", "cell_index": 0}},
        path,
        tmp_path / "bad.html",
    ).read_text(encoding="utf-8")
    assert "\ufffd" in html and " ok" in html
    assert BeautifulSoup(html, "html.parser").find(id="nbpipe-failing-cell-link")["href"] == "#cell-0"
    missing = render_report(
        {"status": "failed", "pipeline": "p"}, tmp_path / "nope.ipynb", tmp_path / "m.html"
    )
    assert "could not be read" in missing.read_text() and "Run failed" in missing.read_text()


def test_exporter_is_created_once(executed: Path, tmp_path: Path) -> None:
    render_report({}, executed, tmp_path / "a.html")
    first = report._EXPORTER
    render_report({}, executed, tmp_path / "b.html")
    assert first is not None and report._EXPORTER is first


@pytest.mark.parametrize(
    ("payload", "forbidden"),
    [
        ("<svg><script>alert(1)</script></svg>", "alert"),
        ("<a href='data:text/html,<script>alert(1)</script>'>x</a>", "data:"),
        ("<img srcset='https://e.example/a.png 2x' src='data:image/png;base64,AAAA'>", "srcset"),
        ("<style>@import url(https://e.example/x.css);</style>", "@import"),
        ("<div style='background-image:url(https://e.example/a.png)'>x</div>", "url("),
        ("<meta http-equiv='refresh' content='0;url=https://e.example'>", "refresh"),
        ("<base href='https://e.example/'>", "base"),
        ("<form action='https://e.example'><input name=q></form>", "action"),
        ("<object data='https://e.example/x.swf'></object><embed src='https://e.example/y'>", "e.example"),
        ("<p id='cell-3'>hijack</p><h2 id='nbpipe-failure'>x</h2>", "id="),
        ("<img src='relative/plot.png'>", "<img"),
        ("<math><mi xlink:href='javascript:alert(1)'>x</mi></math>", "javascript"),
    ],
)
def test_sanitize_html_policy(payload: str, forbidden: str) -> None:
    assert forbidden not in sanitize_html(payload)


def test_sanitize_html_keeps_tables_and_data_images() -> None:
    cleaned = sanitize_html(
        '<table class="dataframe"><tr><th>a</th><td style="color: red">1</td></tr></table>'
        '<img src="data:image/png;base64,AAAA" alt="p"><a href="https://docs.example">d</a>'
    )
    assert '<table class="dataframe">' in cleaned and 'style="color:red"' in cleaned
    assert 'src="data:image/png;base64,AAAA"' in cleaned and 'href="https://docs.example"' in cleaned


def test_an_invalid_expectation_shows_why_great_expectations_refused_it(executed: Path, tmp_path: Path) -> None:
    record = _record()
    reason = ("invalid expectation expect_column_values_to_be_between(x): great-expectations refuses it: "
              "unknown kwarg 'max_vlaue': extra fields not permitted (did you mean 'max_value'?)")
    record["checks"][0]["results"].append({
        "expectation_type": "expect_column_values_to_be_between", "kwargs": {"column": "x", "max_vlaue": 1},
        "success": False, "invalid": True, "exception": reason, "unexpected_count": None,
        "unexpected_percent": None, "partial_unexpected_list": [], "observed_value": None})
    soup = BeautifulSoup(render_report(record, executed, tmp_path / "report.html").read_text(), "html.parser")
    rows = soup.select("#nbpipe-checks tbody tr")
    assert len(rows) == 3
    invalid = " ".join(rows[2].get_text(" ").split())
    assert invalid.startswith("✗ invalid expect_column_values_to_be_between")
    assert "unknown kwarg 'max_vlaue': extra fields not permitted (did you mean 'max_value'?)" in invalid
    assert "invalid" not in rows[1].get_text(), "an ordinary failure is not called invalid"
