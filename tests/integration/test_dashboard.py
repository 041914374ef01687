"""The pipeline-health dashboard: exact figures, parsed from the page, against what the store holds.

The first test renders the page after real runs and compares every figure with one computed here
from the runs' ``run.json``; the second fills a real SQLite run store with records of known
durations, outputs and times (a fixed clock), so each cell has one right value.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import statistics
from pathlib import Path
from typing import Any

from bs4 import BeautifulSoup, Tag

from nbpipe.core.config import load_project
from nbpipe.report.dashboard import render, sparkline
from nbpipe.run.store import RunStore
from tests.support.projects import build_project

COLUMNS = ("pipeline", "last run", "fresh (last success)", "success", "median duration", "duration trend",
           "rows written (last)", "volume trend", "rejected rows", "quality", "cost")


def text(tag: Tag) -> str:
    return tag.get_text(" ", strip=True)


def parse(page: str) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """The two tables of the page: ``{pipeline: {column: cell}}`` and the recent runs, top to bottom.

    A pipeline's cells are their text; ``runs`` (from "(N runs)"), ``status``, ``link``,
    ``duration_points`` and ``volume_points`` (the sparklines' point counts) are added.
    """
    soup = BeautifulSoup(page, "html.parser")
    health, recent = soup.find_all("table")
    assert tuple(text(th) for th in health.find_all("th")) == COLUMNS
    pipelines: dict[str, dict[str, Any]] = {}
    for tr in health.tbody.find_all("tr"):
        tds = tr.find_all("td")
        cells: dict[str, Any] = dict(zip(COLUMNS, (text(td) for td in tds), strict=True))
        name = text(tds[0].strong)
        count = re.fullmatch(rf"{re.escape(name)} \((\d+) runs\)", cells["pipeline"])
        assert count, cells["pipeline"]
        badge = tds[1].find("span", class_="badge")
        link = tds[1].find("a")
        cells.update(
            runs=int(count.group(1)),
            status=text(badge),
            link=link["href"] if link else None,
            duration_points=len(polyline.split()) if (polyline := polyline_points(tds[5])) else 0,
            volume_points=len(polyline.split()) if (polyline := polyline_points(tds[7])) else 0,
        )
        pipelines[name] = cells
    head = [text(th) for th in recent.find_all("th")]
    runs = []
    for tr in recent.tbody.find_all("tr"):
        tds = tr.find_all("td")
        if len(tds) != len(head):
            continue  # the "no runs yet" row
        row: dict[str, Any] = dict(zip(head, (text(td) for td in tds), strict=True))
        link = tds[0].find("a")
        row["link"] = link["href"] if link else None
        runs.append(row)
    return pipelines, runs


def polyline_points(td: Tag) -> str:
    line = td.find("polyline")
    return str(line["points"]) if line else ""


def seconds(value: float) -> str:
    return f"{value:.1f} s"


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
    # the page is rendered as if 2 h 10 min had passed since the last success (no dependence on the wall clock)
    now = dt.datetime.fromisoformat(records[ok[1].run_id]["ended_at"]) + dt.timedelta(hours=2, minutes=10)
    with RunStore(project.store_url) as store:
        page = render(project, store, project.runs_dir, now=now).read_text()
    assert "<script" not in page and "http://" not in page and "https://" not in page
    ok_s = [records[r.run_id]["duration_s"] for r in ok]
    failed_s = records[failed.run_id]["duration_s"]
    cores = project.spark_cores

    pipelines, recent = parse(page)

    assert sorted(pipelines) == ["exception", "no_parameters", "ok"]
    got = pipelines["ok"]
    assert (got["runs"], got["status"], got["success"]) == (3, "skipped", "100%")
    assert got["link"] == f"ok/{again.run_id}/report.html"
    assert got["median duration"] == seconds(statistics.median(ok_s)), "the skipped run does not count"
    assert got["duration_points"] == 2, "one trend point per run that executed"
    assert got["cost"] == f"${sum(ok_s) / 3600 * cores * 0.05:.4f}"
    assert (got["rows written (last)"], got["rejected rows"], got["quality"]) == ("–", "0", "no checks")
    assert got["fresh (last success)"] == "2 h ago"
    got = pipelines["exception"]
    assert (got["runs"], got["status"], got["success"]) == (1, "failed", "0%")
    assert got["link"] == f"exception/{failed.run_id}/report.html"
    assert got["median duration"] == seconds(failed_s) and got["fresh (last success)"] == "never"
    assert got["cost"] == f"${failed_s / 3600 * cores * 0.05:.4f}"
    got = pipelines["no_parameters"]
    assert (got["runs"], got["status"], got["success"], got["median duration"]) == (0, "never run", "–", "–")
    assert got["cost"] == "$0.0000"

    assert [(r["pipeline"], r["status"]) for r in recent] == [
        ("exception", "failed"), ("ok", "skipped"), ("ok", "succeeded"), ("ok", "succeeded"),
    ]
    assert [r["run"] for r in recent] == [failed.run_id, again.run_id, ok[1].run_id, ok[0].run_id]
    for row, result in zip(recent, [failed, again, ok[1], ok[0]], strict=True):
        record = records[result.run_id]
        assert row["link"] == f"{result.pipeline}/{result.run_id}/report.html"
        assert (project.runs_dir / str(row["link"])).is_file()
        assert row["duration"] == seconds(record["duration_s"])
        assert row["started (UTC)"] == record["started_at"][:19]
    assert recent[0]["error"] == records[failed.run_id]["error"]["message"][:140]
    assert recent[1]["error"] == records[again.run_id]["skipped_reason"][:140]
    assert recent[1]["error"].startswith(
        "up to date: notebook code, parameters, configuration, contracts, suites, profile, project modules and "
        "inputs are unchanged since run ")
    assert "ValueError: bad value in column dep_delay" in recent[0]["error"]


# --------------------------------------------------------------------------- a store with known records
NOW = dt.datetime(2024, 3, 10, 12, 0, tzinfo=dt.UTC)


def record(run_id: str, pipeline: str, status: str, started: str, duration_s: float, *,
           outputs: dict[str, int] | None = None, quality: str = "none", error: str | None = None,
           skipped: str | None = None) -> dict[str, Any]:
    """A run.json record as the runner builds it, with the facts the dashboard reads."""
    begin = dt.datetime.fromisoformat(started).replace(tzinfo=dt.UTC)
    return {
        "schema_version": 1, "run_id": run_id, "pipeline": pipeline, "status": status, "mode": "prod",
        "profile": "dev", "started_at": begin.isoformat(),
        "ended_at": (begin + dt.timedelta(seconds=duration_s)).isoformat(), "duration_s": duration_s,
        "exit_code": 0 if status != "failed" else 10, "quality": quality, "skipped_reason": skipped,
        "error": {"type": "RunFailedError", "message": error} if error else None,
        "datasets": {"inputs": [], "outputs": [{"dataset": d, "rows": n} for d, n in (outputs or {}).items()]},
    }


def test_dashboard_figures_from_known_records(tmp_path: Path) -> None:
    root = build_project(tmp_path / "p", pipelines={"orders": {"notebook": "ok.ipynb"},
                                                    "calls": {"notebook": "ok.ipynb"},
                                                    "idle": {"notebook": "ok.ipynb"}},
                         profiles={"dev": {"spark": {"master": "local[4]"}}}, cost={"core_hour_usd": 0.36})
    project = load_project(project_dir=root)
    with RunStore(project.store_url) as store:
        for rec in (
            record("r1", "orders", "succeeded", "2024-03-08T10:00:00", 30.0, quality="passed",
                   outputs={"orders": 100, "orders__rejected": 3}),
            # failed after staging: its outputs and quarantine were never published
            record("r2", "orders", "failed", "2024-03-09T10:00:00", 10.0, quality="failed",
                   outputs={"orders": 50, "orders__rejected": 4}, error="cell 2 (In [3]) raised ValueError: boom"),
            record("r3", "orders", "succeeded", "2024-03-10T09:00:00", 60.0, quality="warned",
                   outputs={"orders": 120, "orders_daily": 7, "orders__rejected": 2}),
            record("r4", "orders", "skipped", "2024-03-10T11:00:00", 0.5, skipped="up to date (run r3)"),
            # a notebook that writes its own rejects to <dataset>_rejected (as the example's ingest_flights)
            record("c1", "calls", "succeeded", "2024-03-07T12:00:00", 90.0,
                   outputs={"calls": 40, "calls_rejected": 6}),
        ):
            store.save_run(rec, [])
        page = render(project, store, project.runs_dir, now=NOW).read_text()

    pipelines, recent = parse(page)

    orders = pipelines["orders"]
    assert (orders["runs"], orders["status"], orders["success"]) == (4, "skipped", "67%")
    assert orders["fresh (last success)"] == "3 h ago", "r3 ended 2 h 59 min before the clock"
    assert orders["median duration"] == "30.0 s", "median of 30, 10, 60; the skipped run does not count"
    assert orders["duration_points"] == 3
    assert orders["rows written (last)"] == "127", "r3 wrote 120 + 7 rows over its two datasets"
    assert orders["volume_points"] == 2, "one point per succeeded run that wrote: r1 (100), r3 (127)"
    assert orders["rejected rows"] == "5", "3 + 2 quarantined by the succeeded runs; r2's 4 never published"
    quality = {k: int(n) for n, k in re.findall(r"(\d+) (\w+)", orders["quality"])}
    assert quality == {"warned": 1, "failed": 1, "passed": 1}
    assert orders["cost"] == f"${100 / 3600 * 4 * 0.36:.4f}" == "$0.0400"
    calls = pipelines["calls"]
    assert (calls["runs"], calls["status"], calls["success"], calls["median duration"]) == (
        1, "succeeded", "100%", "90.0 s")
    assert (calls["rows written (last)"], calls["rejected rows"]) == ("40", "6")
    assert calls["fresh (last success)"] == "3 d ago"
    assert calls["duration_points"] == calls["volume_points"] == 0, "one point draws no trend"
    idle = pipelines["idle"]
    assert (idle["runs"], idle["status"], idle["success"], idle["rows written (last)"]) == (0, "never run", "–", "–")
    assert (idle["fresh (last success)"], idle["cost"]) == ("never", "$0.0000")

    assert [(r["run"], r["status"], r["started (UTC)"], r["duration"], r["error"]) for r in recent] == [
        ("r4", "skipped", "2024-03-10T11:00:00", "0.5 s", "up to date (run r3)"),
        ("r3", "succeeded", "2024-03-10T09:00:00", "60.0 s", ""),
        ("r2", "failed", "2024-03-09T10:00:00", "10.0 s", "cell 2 (In [3]) raised ValueError: boom"),
        ("r1", "succeeded", "2024-03-08T10:00:00", "30.0 s", ""),
        ("c1", "succeeded", "2024-03-07T12:00:00", "90.0 s", ""),
    ]
    assert all(r["link"] is None for r in recent), "no report.html exists for these records"


def test_sparkline_scales_into_the_box():
    svg = sparkline([1.0, 3.0, 2.0], width=100, height=20)
    points = [tuple(map(float, p.split(","))) for p in re.search(r'points="([^"]+)"', svg).group(1).split()]
    assert [x for x, _ in points] == [0.0, 50.0, 100.0]
    assert all(2.0 <= y <= 18.0 for _, y in points) and points[1][1] < points[0][1]
    assert sparkline([5.0]) == ""
