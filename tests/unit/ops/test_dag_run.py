"""``nbpipe.ops.dag.run_dag`` on both executors: same outcomes, same progress events, real kernels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nbpipe.core import events as ev
from nbpipe.core.config import load_project
from nbpipe.ops.dag import run_dag


@pytest.mark.parametrize("parallel", [1, 2])
def test_a_failed_pipeline_stops_its_downstream_only(make_project: Any, parallel: int) -> None:
    root: Path = make_project(
        pipelines={
            "a": {"notebook": "exception.ipynb", "writes": ["x"]},
            "b": {"notebook": "ok.ipynb", "reads": ["x"]},
            "c": {"notebook": "ok.ipynb"},
        },
        datasets={"x": {"format": "parquet"}},
    )
    events: list[dict[str, Any]] = []
    outcomes = run_dag(load_project(project_dir=root), params={"c": {"label": "c"}}, parallel=parallel,
                       on_progress=events.append)
    got = {o.pipeline: (o.status, o.exit_code) for o in outcomes}
    assert got == {"a": ("failed", 10), "b": ("upstream_failed", 0), "c": ("succeeded", 0)}
    by_name = {o.pipeline: o for o in outcomes}
    assert "bad value in column dep_delay" in by_name["a"].message and by_name["b"].message == "upstream a failed"
    assert by_name["b"].run_id is None and by_name["c"].run_id and by_name["c"].duration_s > 0
    assert (root / "runs" / "c" / str(by_name["c"].run_id) / "run.json").is_file()

    pipeline_events = [e for e in events if e["event"] in (ev.PROGRESS_PIPELINE_STARTED, ev.PROGRESS_PIPELINE_FINISHED)]
    assert sorted((e["event"], e["pipeline"]) for e in pipeline_events) == [
        ("pipeline_finished", "a"), ("pipeline_finished", "b"), ("pipeline_finished", "c"),
        ("pipeline_started", "a"), ("pipeline_started", "c"),
    ]
    finished = {e["pipeline"]: (e["status"], e["run_id"]) for e in pipeline_events if e["event"] == "pipeline_finished"}
    assert finished == {o.pipeline: (o.status, o.run_id) for o in outcomes}
    if parallel == 1:
        assert any(e["event"] == ev.PROGRESS_CELL_STARTED for e in events), "in process, cell progress flows too"
    assert not list((root / "runs" / ".kernels").glob("spare-*")), "no spare kernel is left behind"
