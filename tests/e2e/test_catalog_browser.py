"""The ``nbpipe docs`` catalog in real headless Chromium, from ``file://``: links, search, nothing fetched or run.

The site is built from a small real SQLite run store and a Parquet file (no Spark, no kernel); a
description, a column description and a data value carry ``<script>`` and ``onerror`` payloads.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from nbpipe.ops.catalog import build_docs
from nbpipe.run.store import RunStore
from tests.support.catalog import catalog_project

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = catalog_project(tmp_path_factory.mktemp("catalog-browser") / "proj")
    with RunStore(project.store_url) as store:
        return build_docs(project, store, now=dt.datetime(2013, 1, 6, 12, tzinfo=dt.UTC)).index


def test_catalog_in_chromium(site: Path, offline_page: Any, artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    runs_dir = site.parent.parent
    offline_page.allowed |= {p.resolve().as_uri() for p in runs_dir.rglob("*.html")}  # the site and reports
    page = offline_page.open(site)

    items = page.locator("#datasets li")
    expect(items).to_have_count(5)
    page.fill("#search", "landing team")  # the owner of one dataset
    expect(page.locator("#datasets li:visible")).to_have_count(1)
    expect(page.locator("#search-count")).to_have_text("1 of 8 match")
    page.fill("#search", "pii")
    expect(page.locator("#datasets li:visible")).to_have_count(1)
    expect(page.locator("#datasets li:visible a")).to_have_text("passengers")
    page.fill("#search", "")
    expect(page.locator("#datasets li:visible")).to_have_count(5)

    page.fill("#search", "core")
    page.locator("#datasets li:visible a").click()
    expect(page.locator("h1")).to_have_text("dataset flights")
    expect(page.locator("#description")).to_contain_text("<script>")  # shown as text, not run
    expect(page.locator("#example")).to_contain_text("<script>")
    expect(page.locator("svg.lineage")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "catalog-dataset.png"), full_page=True)

    page.locator("svg.lineage g.pipeline a", has_text="daily_stats").click()  # a node of the graph
    expect(page.locator("h1")).to_have_text("pipeline daily_stats")
    expect(page.locator("#io")).to_contain_text("undeclared")
    page.locator("#io a", has_text="flights").click()
    page.locator("a", has_text="ingest_flights").first.click()
    expect(page.locator("h1")).to_have_text("pipeline ingest_flights")
    page.locator("#runs a").first.click()  # into runs/<pipeline>/<run_id>/report.html
    expect(page.locator("#nbpipe-status")).to_have_text("succeeded")
    page.go_back()
    page.locator("header a").click()
    expect(page.locator("#search")).to_be_visible()

    assert offline_page.unexpected_requests == []
    assert offline_page.dialogs == []
    assert offline_page.page_errors == []
    assert offline_page.console == []
    assert page.evaluate("typeof window.__pwned") == "undefined"
