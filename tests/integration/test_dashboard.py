"""The pipeline-health dashboard built from a real run store after real runs."""

from __future__ import annotations

import re

from nbpipe.core.config import load_project
from nbpipe.report.dashboard import render, sparkline
from nbpipe.run.store import RunStore


def test_dashboard_shows_health_and_links_reports(make_project, runner_for):
    root = make_project(pipelines={"ok": {}, "exception": {}, "no_parameters": {}})
    runner = runner_for(root)
    ok = [runner.run("ok", {"limit": str(n)}, from_cli=frozenset({"limit"})) for n in (1, 2)]
    failed = runner.run("exception")
    project = load_project(project_dir=root)
    store = RunStore(project.store_url)
    try:
        page = render(project, store, project.runs_dir).read_text()
    finally:
        store.close()
    assert "<script" not in page and "http://" not in page and "https://" not in page
    for name in ("ok", "exception", "no_parameters"):
        assert f"<strong>{name}</strong>" in page
    assert "never run" in page, "a declared pipeline without runs is shown"
    assert "100%" in page and "0%" in page, "success rates of ok and exception"
    for result in [*ok, failed]:
        assert f'href="{result.pipeline}/{result.run_id}/report.html"' in page
        assert (project.runs_dir / result.pipeline / result.run_id / "report.html").exists()
    assert "ValueError" in page and "bad value in column dep_delay" in page
    assert re.search(r"<polyline[^>]+points=", page), "duration trend of the two ok runs"


def test_sparkline_scales_into_the_box():
    svg = sparkline([1.0, 3.0, 2.0], width=100, height=20)
    points = [tuple(map(float, p.split(","))) for p in re.search(r'points="([^"]+)"', svg).group(1).split()]
    assert [x for x, _ in points] == [0.0, 50.0, 100.0]
    assert all(2.0 <= y <= 18.0 for _, y in points) and points[1][1] < points[0][1]
    assert sparkline([5.0]) == ""
