"""``nbpipe docs``: the catalog site built from a real SQLite run store, contracts, a suite and Parquet data."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from nbpipe.core.config import Project
from nbpipe.ops.catalog import build_docs
from nbpipe.run.store import RunStore
from tests.support.catalog import PWN, catalog_project

NOW = dt.datetime(2013, 1, 6, 12, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, Path]:
    project = catalog_project(tmp_path_factory.mktemp("docs") / "proj")
    with RunStore(project.store_url) as store:
        result = build_docs(project, store, now=NOW)
    assert (result.datasets, result.pipelines, result.undeclared, result.problems) == (5, 3, 1, ())
    return project, result.index.parent


def _page(site: tuple[Project, Path], rel: str) -> str:
    return (site[1] / rel).read_text(encoding="utf-8")


def test_the_site_lives_beside_the_run_directories(site: tuple[Project, Path]) -> None:
    project, out = site
    assert out == project.runs_dir / "_catalog"
    assert sorted(p.name for p in (out / "datasets").iterdir()) == [
        "airports.html", "daily_stats.html", "flights.html", "passengers.html", "raw_flights.html"]
    overview = _page(site, "index.html").split('id="lineage"')[1]
    assert overview.count('<g class="node dataset"><a href="datasets/') == 5
    assert overview.count('<g class="node pipeline"><a href="pipelines/') == 3
    assert overview.count('class="edge undeclared"') == 1  # daily_stats reading airports


def test_a_dataset_page_shows_governance_schema_quality_and_history(site: tuple[Project, Path]) -> None:
    page = _page(site, "datasets/flights.html")
    assert '<dd id="owner">flights team</dd>' in page
    assert page.count('<span class="tag">daily</span>') == 1
    assert "contract version 1.1" in page
    versions = re.findall(r"<tr><td>(1\.\d)</td>", page)
    assert versions == ["1.1", "1.0"]
    assert "recent pass rate <strong>75%</strong>" in page  # one of four runs failed its check
    assert "<code>expect_column_values_to_not_be_null(carrier)</code>" in page
    assert re.search(r'<span class="(ok|warn|error)">(ok|warn|error)</span> · last success 2013-01-04', page)
    assert "Partitions</dt><dd>1" in page and "warehouse/flights" in page
    assert page.count("<circle") == 4  # rows written by the four succeeded runs
    assert "IATA code" in page and PWN not in page
    assert "<script>" not in page and "&lt;script&gt;" in page  # the description and the data value, escaped


def test_example_rows_only_without_pii(site: tuple[Project, Path]) -> None:
    flights = _page(site, "datasets/flights.html")
    assert '<table id="example">' in flights and "<td>UA</td>" in flights
    pax = _page(site, "datasets/passengers.html")
    assert '<span class="pii">PII</span>' in pax
    assert "Not shown: the dataset holds PII (name)" in pax and '<table id="example">' not in pax
    raw = _page(site, "datasets/raw_flights.html")
    assert "without a contract nbpipe cannot tell which columns hold PII" in raw


def test_a_pipeline_page_lists_params_io_and_runs_linking_to_reports(site: tuple[Project, Path]) -> None:
    project, out = site
    page = _page(site, "pipelines/ingest_flights.html")
    assert "<code>run_date</code>" in page and "Day to load" in page and "date" in page
    assert '<code>api_token</code> <span class="pii">secret</span>' in page
    links = re.findall(r'<a href="([^"]+)"><code>(\w+-inge)</code>', page)
    assert links == [("../../ingest_flights/20130104T060000Z-inge/report.html", "20130104T060000Z-inge")]
    assert (out / "pipelines" / links[0][0]).resolve() == (
        project.runs_dir / "ingest_flights" / "20130104T060000Z-inge" / "report.html").resolve()
    assert re.search(r'<span class="(ok|warn|error)">\w+</span> · last success 2013-01-04 06:00:30', page)
    stats = _page(site, "pipelines/daily_stats.html")
    assert "<dt>Freshness</dt><dd>— (no schedule)</dd>" in stats
    assert ('<a href="../datasets/airports.html">airports</a></td>\n      <td><span class="bad">undeclared</span>'
            in stats)


def test_no_secret_and_no_external_reference_anywhere(site: tuple[Project, Path]) -> None:
    _, out = site
    for page in out.rglob("*.html"):
        text = page.read_text()
        assert "s3cr3t-token-value" not in text
        assert not re.search(r'(src|href)="(https?:)?//', text), page
        assert "Content-Security-Policy" in text


def test_the_search_script_is_the_only_script_and_its_hash_is_pinned(site: tuple[Project, Path]) -> None:
    import base64
    import hashlib
    import html

    index = _page(site, "index.html")
    (script,) = re.findall(r"<script>(.*?)</script>", index, re.S)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    (csp,) = re.findall(r'http-equiv="Content-Security-Policy" content="([^"]+)"', index)
    assert html.unescape(csp).endswith(f"; script-src 'sha256-{digest}'")
    assert "default-src 'none'" in html.unescape(csp)
    for page in site[1].glob("*/*.html"):
        assert "<script>" not in page.read_text() and "script-src" not in page.read_text()


def test_a_broken_contract_is_shown_and_reported_and_stale_pages_go(tmp_path: Path) -> None:
    project = catalog_project(tmp_path / "proj")
    (tmp_path / "proj" / "contracts" / "passengers.yaml").write_text("dataset: passengers\nownr: x\ncolumns: []\n")
    (project.runs_dir / "_catalog" / "datasets").mkdir(parents=True)
    (project.runs_dir / "_catalog" / "datasets" / "gone.html").write_text("old")
    with RunStore(project.store_url) as store:
        result = build_docs(project, store, now=NOW)
    (problem,) = result.problems
    assert "unknown key 'ownr' (did you mean 'owner'?)" in problem
    assert "unknown key &#39;ownr&#39;" in (result.index.parent / "datasets" / "passengers.html").read_text()
    assert not (result.index.parent / "datasets" / "gone.html").exists()


def test_the_run_report_lineage_section_links_into_the_catalog(site: tuple[Project, Path]) -> None:
    """Rendered where the runner writes it, each link of the report's lineage section opens a catalog page."""
    from nbpipe.report.run_report import render_report

    project, _ = site
    run_dir = project.runs_dir / "daily_stats" / "20130102T060000Z-dail"
    record = {"run_id": run_dir.name, "pipeline": "daily_stats", "status": "succeeded",
              "datasets": {"inputs": [{"dataset": "flights"}, {"dataset": "airports"}],
                           "outputs": [{"dataset": "daily_stats"}]}}
    html = render_report(record, run_dir / "output.ipynb", run_dir / "report.html").read_text()
    section = html[html.index('id="nbpipe-lineage"'):html.index("</section>", html.index('id="nbpipe-lineage"'))]
    links = re.findall(r'href="([^"]+)">(?:<strong>)?(\w+)', section)
    assert [name for _, name in links] == ["flights", "airports", "daily_stats", "daily_stats"]
    for href, name in links:
        page = (run_dir / href).resolve()
        assert page.is_file(), href
        assert f"{name}</h1>" in page.read_text()


def test_explore_runs_do_not_count_as_history(tmp_path: Path) -> None:
    project = catalog_project(tmp_path / "proj")
    with RunStore(project.store_url) as store:
        store.save_run({"run_id": "20130105T060000Z-expl", "pipeline": "ingest_flights", "status": "succeeded",
                        "mode": "explore", "started_at": "2013-01-05T06:00:00+00:00",
                        "datasets": {"inputs": [], "outputs": [{"dataset": "flights", "rows": 5,
                                                                "schema_version": "9.0"}]}}, [])
        result = build_docs(project, store, now=NOW)
    page = (result.index.parent / "datasets" / "flights.html").read_text()
    assert page.count("<circle") == 4 and "9.0" not in page


@pytest.mark.postgres
def test_the_same_facts_from_a_postgresql_store(tmp_path: Path, pg_database: Callable[[], str]) -> None:
    from nbpipe.ops.catalog import store_facts
    from nbpipe.ops.lineage_graph import observed_edges

    project = catalog_project(tmp_path / "proj", store=pg_database())
    with RunStore(project.store_url) as store:
        assert ("daily_stats", "airports", "in") in observed_edges(store)
        assert store_facts.last_successes(store) == {"ingest_flights": "2013-01-04T06:00:30+00:00",
                                                     "daily_stats": "2013-01-04T06:00:30+00:00"}
        assert [(at[:10], total, ok) for at, total, ok in store_facts.check_tallies(store)["flights"]] == [
            ("2013-01-01", 1, 1), ("2013-01-02", 1, 1), ("2013-01-03", 1, 0), ("2013-01-04", 1, 1)]
        result = build_docs(project, store, now=NOW)
    page = (result.index.parent / "datasets" / "flights.html").read_text()
    assert "recent pass rate <strong>75%</strong>" in page
    assert re.findall(r"<tr><td>(1\.\d)</td>", page) == ["1.1", "1.0"]
