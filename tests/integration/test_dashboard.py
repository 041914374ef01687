"""The pipeline-health dashboard: exact figures, parsed from the pages, against what the store holds.

The first test renders the pages after real runs and compares every figure with one computed here
from the runs' ``run.json``; the others fill a real SQLite run store with records of known
durations, outputs, checks and times (a fixed clock), so each figure has one right value.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import statistics
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup, Tag

from nbpipe.core.config import load_project
from nbpipe.core.layout import RunDir
from nbpipe.ops.alerts import Alerts
from nbpipe.ops.health import write_dashboard
from nbpipe.report.dashboard import sparkline
from nbpipe.run.alert_store import AlertStore
from nbpipe.run.store import RunStore
from tests.support.cli import run_cli
from tests.support.projects import build_project

NOW = dt.datetime(2024, 3, 10, 12, 0, tzinfo=dt.UTC)


def text(tag: Tag) -> str:
    return tag.get_text(" ", strip=True)


def overview(page: Path) -> dict[str, dict[str, Any]]:
    """``{pipeline: {figure: text}}`` of the overview, plus ``link`` (last run) and ``*_points`` counts."""
    soup = BeautifulSoup(page.read_text(), "html.parser")
    out: dict[str, dict[str, Any]] = {}
    for tr in soup.select("#pipelines tbody tr"):
        cells: dict[str, Any] = {td["data-figure"]: text(td) for td in tr.find_all("td") if td.get("data-figure")}
        last = tr.find("td", attrs={"data-figure": "last"})
        cells["link"] = a["href"] if (a := last.find("a")) else None
        for name in ("duration_trend", "rows_trend"):
            line = tr.find("td", attrs={"data-figure": name}).find("polyline")
            cells[f"{name}_points"] = len(str(line["points"]).split()) if line else 0
        cells["marks"] = len(tr.select("td[data-figure=rows_trend] circle.anomaly"))
        cells["anomalies"] = text(span) if (span := tr.select_one("span[data-figure=anomalies]")) else ""
        out[str(tr["data-pipeline"])] = cells
    return out


def figures(page: Path) -> dict[str, str]:
    soup = BeautifulSoup(page.read_text(), "html.parser")
    return {str(b["data-figure"]): text(b) for b in soup.select("#summary [data-figure]")}


def run_rows(page: Path) -> list[dict[str, Any]]:
    soup = BeautifulSoup(page.read_text(), "html.parser")
    head = [text(th) for th in soup.select("#runs thead th")]
    rows = []
    for tr in soup.select("#runs tbody tr"):
        tds = tr.find_all("td")
        if len(tds) == len(head):
            rows.append({**dict(zip(head, (text(td) for td in tds), strict=True)),
                         "link": a["href"] if (a := tds[0].find("a")) else None})
    return rows


def test_dashboard_figures_match_the_records_of_real_runs(make_project, runner_for):
    # ok reads a landed file, so a rerun with the same parameters and input is skipped as up to date
    root = make_project(pipelines={"ok": {"reads": ["src"]}, "exception": {}, "no_parameters": {}},
                        datasets={"src": {"path": "landing/src", "format": "csv"}})
    (root / "landing" / "src").mkdir(parents=True)
    (root / "landing" / "src" / "a.csv").write_text("id\n1\n")
    runner = runner_for(root)
    ok = [runner.run("ok", {"limit": str(n)}, from_cli=frozenset({"limit"})) for n in (1, 2)]
    again = runner.run("ok", {"limit": "2"}, from_cli=frozenset({"limit"}))
    failed = runner.run("exception")
    assert [r.status for r in [*ok, again, failed]] == ["succeeded", "succeeded", "skipped", "failed"]
    project = load_project(project_dir=root)
    records = {r.run_id: json.loads((project.runs_dir / r.pipeline / r.run_id / "run.json").read_text())
               for r in [*ok, again, failed]}
    now = dt.datetime.fromisoformat(records[ok[1].run_id]["ended_at"]) + dt.timedelta(hours=2, minutes=10)
    with RunStore(project.store_url) as store:
        # the failure's alert, as `nbpipe run` keeps it (opened, then one repeat)
        book = Alerts(AlertStore(store), project.config.alerts, clock=lambda: now)
        for _ in range(2):
            book.fire("exception", "failure", event="failure", severity="error", pipeline="exception",
                      message="cell 1 raised ValueError", run_id=failed.run_id, deliver=False)
        index = write_dashboard(project, store, now=now)
    pages = sorted(p.name for p in project.runs_dir.glob("*.html"))
    assert pages == ["cost.html", "index.html", "pipeline-exception.html", "pipeline-no_parameters.html",
                     "pipeline-ok.html", "storage.html"]
    for page in pages:
        html = (project.runs_dir / page).read_text()
        assert "<script" not in html and "http://" not in html and "https://" not in html
        assert "default-src 'none'" in html and 'data-window="30d"' in html
    ok_s = [records[r.run_id]["duration_s"] for r in ok]
    failed_s = records[failed.run_id]["duration_s"]

    got = overview(index)
    assert sorted(got) == ["exception", "no_parameters", "ok"]
    assert (got["ok"]["runs"], got["ok"]["success"]) == ("3", "100%")
    assert got["ok"]["link"] == f"ok/{again.run_id}/report.html"
    assert got["ok"]["last"].startswith("skipped " + again.run_id)
    assert got["ok"]["p50"] == f"{statistics.median(ok_s):.1f} s", "the skipped run does not count"
    assert got["ok"]["p95"] == f"{statistics.quantiles(ok_s, n=100, method='inclusive')[94]:.1f} s"
    assert got["ok"]["duration_trend_points"] == 2
    assert (got["ok"]["rows"], got["ok"]["rejected"], got["ok"]["quality"]) == ("–", "0", "–")
    assert got["ok"]["freshness"] == "unscheduled"
    ok_cost = sum(records[r.run_id]["cost_usd"] for r in ok)  # the measured cost of each run (skipped: none)
    assert records[again.run_id].get("cost_usd") in (None, 0)
    assert got["ok"]["cost"] == f"${ok_cost + (records[again.run_id].get('cost_usd') or 0):.4f}"
    assert got["no_parameters"]["cost"] == "not measured"
    assert (got["exception"]["runs"], got["exception"]["success"]) == ("1", "0%")
    assert got["exception"]["p50"] == f"{failed_s:.1f} s"
    assert (got["no_parameters"]["runs"], got["no_parameters"]["last"]) == ("0", "never run")

    runs = run_rows(project.runs_dir / "pipeline-ok.html")
    assert [r["run"] for r in runs] == [again.run_id, ok[1].run_id, ok[0].run_id]
    for row, result in zip(runs, [again, *reversed(ok)], strict=True):
        assert row["link"] == f"ok/{result.run_id}/report.html" and (project.runs_dir / row["link"]).is_file()
        assert row["started (UTC)"] == records[result.run_id]["started_at"][:19]
    assert runs[0]["error"] == records[again.run_id]["skipped_reason"][:140]
    failed_row = run_rows(project.runs_dir / "pipeline-exception.html")[0]
    assert "ValueError: bad value in column dep_delay" in failed_row["error"]
    page = BeautifulSoup((project.runs_dir / "pipeline-exception.html").read_text(), "html.parser")
    alerts = [text(li) for li in page.select("#alerts li")]
    assert alerts == [f"failure on exception since {now.isoformat()} (2×): cell 1 raised ValueError"]
    assert page.select_one("#alerts") is not None and text(page.select_one("#alerts")) != "none open"
    assert not BeautifulSoup((project.runs_dir / "pipeline-ok.html").read_text(), "html.parser").select("#alerts li")


# --------------------------------------------------------------------------- a store with known records
def record(run_id: str, pipeline: str, status: str, started: str, duration_s: float, *,
           outputs: dict[str, int] | None = None, quality: str = "none", error: str | None = None,
           skipped: str | None = None, checks: list[tuple[str, bool]] | None = None) -> dict[str, Any]:
    """A run.json record as the runner builds it, with the facts the dashboard reads."""
    begin = dt.datetime.fromisoformat(started).replace(tzinfo=dt.UTC)
    return {
        "schema_version": 1, "run_id": run_id, "pipeline": pipeline, "status": status, "mode": "prod",
        "profile": "dev", "started_at": begin.isoformat(),
        "ended_at": (begin + dt.timedelta(seconds=duration_s)).isoformat(), "duration_s": duration_s,
        "exit_code": 0 if status != "failed" else 10, "quality": quality, "skipped_reason": skipped,
        "error": {"type": "RunFailedError", "message": error} if error else None,
        "datasets": {"inputs": [], "outputs": [{"dataset": d, "rows": n, "bytes": n * 10}
                                               for d, n in (outputs or {}).items()]},
        "checks": [{"suite": "orders_suite", "dataset": "orders",
                    "results": [{"expectation_type": e, "success": ok, "kwargs": {"column": "id"}}
                                for e, ok in (checks or [])]}] if checks else [],
    }


def known_store(tmp_path: Path, store: str | None = None) -> Any:
    profiles = {"dev": {"store": store}} if store else {"dev": {}}
    pipelines = {"orders": {"notebook": "ok.ipynb", "schedule": "0 9 * * *"},
                 "calls": {"notebook": "ok.ipynb", "schedule": "@hourly"}, "idle": {"notebook": "ok.ipynb"}}
    root = build_project(tmp_path / "p", profiles=profiles, pipelines=pipelines,
                         datasets={"orders": {"partition_by": ["day"], "retention_days": 30}},
                         runs={"retention_days": 30, "keep_failed": 0})
    project = load_project(project_dir=root)
    with RunStore(project.store_url) as store:
        for rec in (
            # 40 days before the clock: outside the 30-day window, and past runs.retention_days
            record("r0", "orders", "failed", "2024-01-30T10:00:00", 500.0, error="old"),
            record("r1", "orders", "succeeded", "2024-03-08T10:00:00", 30.0, quality="passed",
                   outputs={"orders": 100, "orders__rejected": 3},
                   checks=[("expect_column_values_to_not_be_null", True), ("expect_column_values_to_be_unique", True)]),
            record("r2", "orders", "failed", "2024-03-09T10:00:00", 10.0, quality="failed",
                   outputs={"orders": 50, "orders__rejected": 4}, error="cell 2 (In [3]) raised ValueError: boom",
                   checks=[("expect_column_values_to_not_be_null", False),
                           ("expect_column_values_to_be_unique", True)]),
            record("r3", "orders", "succeeded", "2024-03-10T09:00:00", 60.0, quality="warned",
                   outputs={"orders": 120, "orders_daily": 7, "orders__rejected": 2},
                   checks=[("expect_column_values_to_not_be_null", True)]),
            record("r4", "orders", "skipped", "2024-03-10T11:00:00", 0.5, skipped="up to date (run r3)"),
            # calls: ten steady days of ~1,000 rows, then 5,000 on the last (an anomaly), and its own rejects
            *(record(f"c{i}", "calls", "succeeded", f"2024-03-{i:02d}T12:00:00", 90.0,
                     outputs={"calls": 5000 if i == 9 else 1000 + i, "calls_rejected": 1}) for i in range(1, 10)),
        ):
            store.save_run(rec, [])
    return project


def test_dashboard_figures_from_known_records_in_one_window(tmp_path: Path) -> None:
    project = known_store(tmp_path)
    with RunStore(project.store_url) as store:
        index = write_dashboard(project, store, now=NOW)
    got = overview(index)

    orders = got["orders"]
    assert (orders["runs"], orders["success"]) == ("4", "67%"), "r0 is outside the window"
    assert orders["last"].startswith("skipped r4")
    assert orders["freshness"] == "OK 0 9 * * *", "r3 ended at 09:01, after the 09:00 tick"
    durations = [30.0, 10.0, 60.0]
    assert orders["p50"] == "30.0 s"
    assert orders["p95"] == f"{statistics.quantiles(durations, n=100, method='inclusive')[94]:.1f} s" == "57.0 s"
    assert orders["rows"] == "227", "r1 wrote 100, r3 wrote 120 + 7; r2 failed and published nothing"
    assert orders["rejected"] == "5", "3 + 2 quarantined by the succeeded runs; r2's 4 never published"
    assert orders["quality"] == "33%", "1 passed of 3 runs with checks"
    assert (orders["cost"], orders["rows_trend_points"], orders["marks"]) == ("not measured", 2, 0)

    calls = got["calls"]
    assert (calls["runs"], calls["success"], calls["rejected"]) == ("9", "100%", "9")
    assert calls["freshness"] == "LATE @hourly", "last success 2024-03-09 13:30, the clock a day later"
    assert calls["rows"] == f"{sum(1000 + i for i in range(1, 9)) + 5000:,}"
    assert calls["marks"] == 1 and calls["anomalies"] == "1 anomaly"
    idle = got["idle"]
    assert (idle["runs"], idle["success"], idle["p50"], idle["last"], idle["freshness"]) == (
        "0", "–", "–", "never run", "unscheduled")

    page = project.runs_dir / "pipeline-calls.html"
    soup = BeautifulSoup(page.read_text(), "html.parser")
    marked = soup.select("svg.chart circle.anomaly title")
    assert [text(t).split(":")[0] for t in marked] == ["c9"]
    assert "5,000 rows vs median 1,004 (+398%, recent)" in text(marked[0]), "median of 1,001 … 1,008"
    assert text(soup.select_one("#alerts")) == "none open"

    soup = BeautifulSoup((project.runs_dir / "pipeline-orders.html").read_text(), "html.parser")
    checks = [[text(td) for td in tr.find_all("td")][1:7] for tr in soup.select("#checks tbody tr")]
    assert checks == [["orders", "expect_column_values_to_be_unique", "id", "2", "2", "100%"],
                      ["orders", "expect_column_values_to_not_be_null", "id", "3", "2", "67%"]]
    assert figures(project.runs_dir / "pipeline-orders.html")["durations"] == "30.0 s / 57.0 s"
    assert [r["run"] for r in run_rows(project.runs_dir / "pipeline-orders.html")] == ["r4", "r3", "r2", "r1"]
    charts = [(s["aria-label"], s["data-points"]) for s in soup.select("svg.chart")]
    assert charts == [("duration per run", "3"), ("rows of orders", "2"), ("rows of orders_daily", "1")]

    storage = BeautifulSoup((project.runs_dir / "storage.html").read_text(), "html.parser")
    row = storage.select_one('#storage tr[data-dataset="orders"]')
    assert text(row.select_one("[data-figure=written]")) == "2.2 kB" and text(row.select_one(
        "[data-figure=publishes]")) == "2"
    reclaim = {tr["data-kind"]: text(tr.select_one("[data-figure=items]"))
               for tr in storage.select("#reclaim tr[data-kind]")}
    assert reclaim == {"run": "1"}, "r0 is past runs.retention_days 30 (keep_failed 0)"
    (project.warehouse / "orders" / "day=someday").mkdir(parents=True)  # gc cannot date it: the page says so
    (project.warehouse / "orders" / "day=someday" / "part-0.parquet").write_bytes(b"x")
    with RunStore(project.store_url) as store:
        write_dashboard(project, store, now=NOW)
    storage = BeautifulSoup((project.runs_dir / "storage.html").read_text(), "html.parser")
    assert text(storage.select_one("#reclaim")).startswith(
        "not computed: dataset 'orders': partition 'day=someday' has no date in its column 'day'")
    cost = BeautifulSoup((project.runs_dir / "cost.html").read_text(), "html.parser")
    assert {text(td) for td in cost.select("[data-figure=cost]")} == {"not measured"}


@pytest.mark.postgres
def test_postgres_store_draws_the_same_pages(tmp_path: Path, pg_database: Any) -> None:
    pages = {}
    for name, url in (("sqlite", None), ("postgres", pg_database())):
        project = known_store(tmp_path / name, url)
        with RunStore(project.store_url) as store:
            write_dashboard(project, store, now=NOW)
        pages[name] = {p.name: p.read_text() for p in sorted(project.runs_dir.glob("*.html"))}
    assert len(pages["sqlite"]) == 6 and pages["postgres"] == pages["sqlite"]


def test_report_window_flag_and_a_bad_value(tmp_path: Path) -> None:
    project = known_store(tmp_path)
    out = run_cli(project.root, "report", "--window", "60d")
    assert out.returncode == 0, out.stderr
    got = overview(project.runs_dir / "index.html")
    assert got["orders"]["runs"] != "4", "a 60-day window (to the wall clock) holds other runs than 30 days"
    bad = run_cli(project.root, "report", "--window", "lots")
    assert bad.returncode == 2 and "--window" in bad.stderr and "'lots' is not a duration" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_sparkline_scales_into_the_box():
    svg = sparkline([1.0, 3.0, 2.0], width=100, height=20)
    points = [tuple(map(float, p.split(","))) for p in re.search(r'points="([^"]+)"', svg).group(1).split()]
    assert [x for x, _ in points] == [0.0, 50.0, 100.0]
    assert all(2.0 <= y <= 18.0 for _, y in points) and points[1][1] < points[0][1]
    assert sparkline([5.0]) == ""
    assert RunDir.REPORT == "report.html"
