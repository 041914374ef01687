"""The runner's own volume check of a run's outputs, and its ``volume_anomaly`` notification."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from nbpipe.core import events as ev
from nbpipe.core.config import load_project
from nbpipe.ops.notify.service import Notifier
from nbpipe.run.observe import volume_findings
from nbpipe.run.record import RunResult
from nbpipe.run.store import RunStore
from tests.integration.test_monitor import save
from tests.support.notify_servers import HttpReceiver
from tests.support.projects import build_project

NOW = dt.datetime(2026, 3, 10, 6, 0, tzinfo=dt.UTC)


def staged(run_dir: Path, **rows: int) -> list[dict]:
    log = ev.EventLog.in_run_dir(run_dir, source="kernel", attempt=1)
    for dataset, n in rows.items():
        log.emit(ev.DATASET_STAGED, dataset=dataset, rows=n)
    log.emit(ev.DATASET_STAGED, dataset="sandboxed", rows=1, sandbox=True)
    return log.read()


def test_outputs_are_judged_against_history_and_expect_rows(tmp_path: Path) -> None:
    datasets = {"flights": {}, "carriers": {"expect_rows": {"min": 10, "max": 20}},
                "noisy": {"volume": {"enabled": False}}}
    root = build_project(tmp_path / "p", pipelines={"ingest": {"writes": list(datasets)}}, datasets=datasets)
    project = load_project(project_dir=root)
    with RunStore(project.store_url) as store:
        for back in range(14, 0, -1):
            save(store, "ingest", NOW - dt.timedelta(days=back), rows={"flights": 10000 + back * 7, "noisy": 5})
        run_dir = tmp_path / "run"
        events = staged(run_dir, flights=3000, carriers=25, noisy=5000)
        log = ev.EventLog.in_run_dir(run_dir, source="runner")
        warnings = volume_findings(project, store, "ingest", "this-run", NOW, events, 1, log)
        events2 = staged(tmp_path / "r2", flights=10020, carriers=15)
        normal = volume_findings(project, store, "ingest", "next-run", NOW, events2, 1,
                                 ev.EventLog.in_run_dir(tmp_path / "r2", source="runner"))
    assert warnings[0] == "volume anomaly: 25 rows written to 'carriers', above expect_rows max 20"
    assert warnings[1].startswith("volume anomaly: flights: 3,000 rows is 70% below the recent median 10,")
    assert len(warnings) == 2
    found = [e for e in ev.read_events(run_dir / "events.jsonl") if e["kind"] == ev.VOLUME_ANOMALY]
    assert [(e["dataset"], e["rows"]) for e in found] == [("carriers", 25), ("flights", 3000)]
    assert normal == []  # and a disabled rule never judges "noisy"


def test_a_run_with_a_volume_anomaly_notifies_and_a_normal_one_resolves(tmp_path: Path) -> None:
    with HttpReceiver() as http:
        root = build_project(tmp_path / "p", pipelines={"ingest": {"writes": ["flights"]}}, datasets={"flights": {}},
                             notify=[{"on": ["volume_anomaly", "recovered"], "webhook": http.url("/hook")}])
        project = load_project(project_dir=root)
        with RunStore(project.store_url) as store:
            notifier = Notifier(project, store, clock=lambda: NOW)
            for n, finding in enumerate([{"dataset": "flights", "rows": 3000, "message": "flights: 3,000 rows is low"},
                                         None]):
                run_dir = tmp_path / f"run{n}"
                log = ev.EventLog.in_run_dir(run_dir, source="runner")
                if finding is not None:
                    log.emit(ev.VOLUME_ANOMALY, **finding)
                record = {"mode": "prod", "status": "succeeded", "quality": "none",
                          "datasets": {"outputs": [{"dataset": "flights", "rows": 3000}]}}
                result = RunResult(f"r{n}", "ingest", "succeeded", 0, run_dir, record)
                assert notifier.on_run(result) == []
        bodies = http.bodies("/hook")
    assert [(b["event"], b["state"], b["dataset"], b["message"]) for b in bodies] == [
        ("volume_anomaly", "opened", "flights", "flights: 3,000 rows is low"),
        ("volume_anomaly", "resolved", "flights", "recovered after 1 finding / 0.0 h")]
    assert bodies[0]["run"]["report"] == str(tmp_path / "run0" / "report.html")
    assert json.dumps(bodies[0]).count("flights") >= 2
