"""The dashboard's pages in real headless Chromium: every page opens from the overview's links,
its figures equal what the run store holds, and nothing is fetched, executed or logged.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from nbpipe.ops.health import write_dashboard
from nbpipe.run.store import RunStore
from tests.integration.test_dashboard import NOW, known_store

pytestmark = pytest.mark.browser


def store_figures(project: Any) -> dict[str, dict[str, str]]:
    """Runs, success rate and rejected rows per pipeline over the 30 days before NOW, from the store."""
    since = (NOW - dt.timedelta(days=30)).isoformat()
    out: dict[str, dict[str, str]] = {}
    with RunStore(project.store_url) as store:
        for name in project.config.pipelines:
            runs = [r for r in store.list_runs(name, limit=1000) if r["started_at"] >= since]
            done = [r for r in runs if r["status"] in ("succeeded", "failed")]
            ok = {r["run_id"] for r in runs if r["status"] == "succeeded"}
            rejected = sum(int(d["rows"] or 0) for d in store.dataset_history(name, since_iso=since)
                           if d["run_id"] in ok and d["dataset"].endswith(("__rejected", "_rejected")))
            rate = f"{sum(r['status'] == 'succeeded' for r in done) / len(done) * 100:.0f}%" if done else "–"
            out[name] = {"runs": str(len(runs)), "success": rate, "rejected": f"{rejected:,}"}
    return out


def test_every_dashboard_page_in_chromium(tmp_path: Path, offline_page: Any, artifacts_dir: Path) -> None:
    project = known_store(tmp_path)
    with RunStore(project.store_url) as store:
        index = write_dashboard(project, store, now=NOW)
    expected = store_figures(project)
    page = offline_page.open(index)
    assert page.locator("#window").get_attribute("data-window") == "30d"
    for name, figures in expected.items():
        row = page.locator(f'#pipelines tr[data-pipeline="{name}"]')
        got = {k: row.locator(f'td[data-figure="{k}"]').inner_text().strip() for k in figures}
        assert got == figures, name
    links = page.locator("nav a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert links == ["index.html", "pipeline-calls.html", "pipeline-idle.html", "pipeline-orders.html",
                     "cost.html", "storage.html"]
    for href in links:
        target = index.parent / href
        page = offline_page.open(target)
        assert page.title().startswith("test · ")
        if href.startswith("pipeline-"):
            name = href.removeprefix("pipeline-").removesuffix(".html")
            summary = {k: page.locator(f'#summary [data-figure="{k}"]').inner_text().strip()
                       for k in expected[name]}
            assert summary == expected[name], name
            assert page.locator("#runs tbody tr").count() == max(int(expected[name]["runs"]), 1)
        page.screenshot(path=str(artifacts_dir / f"dashboard-{href}.png"), full_page=True)
    anomaly = offline_page.open(index.parent / "pipeline-calls.html").locator("svg.chart circle.anomaly")
    assert anomaly.count() == 1 and anomaly.bounding_box() is not None, "the anomaly mark is drawn"
    assert offline_page.unexpected_requests == []
    assert offline_page.console == [] and offline_page.page_errors == [] and offline_page.dialogs == []
