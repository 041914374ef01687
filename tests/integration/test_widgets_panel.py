"""The notebook panel driven directly (no browser): real ``nbpipe`` subprocesses, kernels and store.

The panel's widgets are built in this process (ipywidgets works without a front end) and their
buttons' actions called: the form validates like ``nbpipe run``, Run in production follows a real
run's progress, a secret typed in the form never reaches the command line or any record, Cancel
stops a real run that is then recorded as ``cancelled`` with nothing published, and a second run
while one holds the lock shows the holder.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from nbpipe.core.config import load_project
from nbpipe.errors import ConfigError
from nbpipe.kernel.widgets._cli import Cli
from nbpipe.kernel.widgets.controller import Outcome, RunController
from nbpipe.kernel.widgets.panel import Panel, PanelWidget, pipeline_for
from nbpipe.kernel.widgets.views import PromoteView, RecentRuns, error_html
from tests.support.cli import run_cli
from tests.support.panel import build_panel_project

SECRET = "tok-7f3a9c-never-shown"
WAIT_S = 300


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_panel_project(tmp_path_factory.mktemp("panel") / "project")


class Watched:
    """A PanelWidget whose run events and outcome are also collected for the test."""

    def __init__(self, root: Path, pipeline: str) -> None:
        self.widget = PanelWidget(Panel(load_project(project_dir=root), pipeline).cli, pipeline)
        self.events: list[dict] = []
        self.done = threading.Event()
        self.outcome: Outcome | None = None
        ctl = self.widget.controller
        on_event, on_done = ctl.on_event, ctl.on_done

        def event(e: dict) -> None:
            on_event(e)
            self.events.append(e)

        def finished(o: Outcome) -> None:
            on_done(o)
            self.outcome = o
            self.done.set()

        ctl.on_event, ctl.on_done = event, finished

    def wait_for(self, predicate, what: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while not predicate():
            assert time.monotonic() < deadline, f"timed out waiting for {what}; events: {self.events[-3:]}"
            assert not self.done.is_set() or predicate(), f"the run ended before {what}: {self.outcome}"
            time.sleep(0.05)


def test_form_then_run_in_production_with_a_secret_progress_report_and_recent_runs(root: Path) -> None:
    watched = Watched(root, "demo")
    panel = watched.widget
    form = panel.form
    assert form is not None
    # The form: typed fields, the description as tooltip, errors beside the fields (the wording of
    # nbpipe run: the unit tests compare it with core.params), and no run while one is invalid.
    kinds = {name: type(f).__name__ for name, f in form.fields.items()}
    assert kinds == {"run_date": "DatePicker", "limit": "IntText", "mode": "Dropdown", "flag": "Checkbox",
                     "api_token": "Password"}
    assert form.fields["run_date"].tooltip == "the day to process"
    form.fields["limit"].value = 500
    form.fields["run_date"].value = dt.date(2012, 5, 1)
    assert form.validate() is None
    assert "below the minimum" in form.errors["run_date"].value
    assert "parameter &#x27;limit&#x27;: 500 is above the maximum 100" in form.errors["limit"].value
    panel.start()
    assert not panel.controller.running and "Fix the parameters" in panel.status.value
    form.fields["limit"].value, form.fields["run_date"].value = 10, dt.date(2013, 3, 4)
    assert form.errors["limit"].value == "" and form.errors["run_date"].value == ""
    form.fields["api_token"].value = SECRET
    panel.start()
    pid = panel.controller.process.pid if panel.controller.process else 0
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    assert SECRET not in cmdline and "api_token=env:NBPIPE_PANEL_SECRET_API_TOKEN" in cmdline.replace("\0", " ")
    assert panel.run_button.disabled and not panel.cancel_button.disabled
    assert watched.done.wait(WAIT_S), "the run did not finish"
    outcome = watched.outcome
    assert outcome is not None and outcome.exit_code == 0, outcome
    assert [e["n"] for e in watched.events if e["event"] == "cell_started"] == [1, 2, 3, 4, 5, 6, 7]
    assert panel.progress.value == panel.progress.max == 7 and panel.progress.bar_style == "success"
    run_id = outcome.result["run_id"]
    assert "succeeded" in panel.status.value and run_id in panel.status.value
    assert "nbpipe-report-link" in panel.status.value and "report.html" in panel.status.value
    assert f"data-run-id='{run_id}'" in panel.runs.table.value
    run_dir = root / "runs" / "demo" / run_id
    assert "token length 22" in (run_dir / "output.ipynb").read_text()
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), f"the secret leaked into {path}"
    with sqlite3.connect(root / "runs" / "nbpipe.db") as db:
        for (table,) in db.execute("select name from sqlite_master where type='table'"):
            for row in db.execute(f"select * from {table}"):
                assert SECRET not in json.dumps(row, default=str), f"the secret is in store table {table}"
    # Production output holds the static fallbacks, never dead widget views.
    for name in ("output.ipynb", "report.html"):
        text = (run_dir / name).read_text()
        assert "application/vnd.jupyter.widget-view+json" not in text, name
    assert "nbpipe-panel-static" in (run_dir / "output.ipynb").read_text()


def test_cancel_records_cancelled_publishes_nothing_and_a_second_run_shows_the_holder(root: Path) -> None:
    watched = Watched(root, "slow")
    panel = watched.widget
    panel.start()
    watched.wait_for(lambda: any(e.get("event") == "cell_started" and e.get("n") == 4 for e in watched.events),
                     "the endless cell")
    run_id = next(e["run_id"] for e in watched.events if e["event"] == "run_started")
    run_dir = root / "runs" / "slow" / run_id
    assert (run_dir / "staging" / "out" / "part-0.parquet").is_file()
    # A second run of the same pipeline is refused, naming the run that holds the lock.
    refused: list[Outcome] = []
    second = RunController(panel.cli, "slow", lambda _e: None, refused.append)
    second.start([], {})
    second.wait(WAIT_S)
    assert refused and refused[0].exit_code == 5 and refused[0].error is not None
    assert f"already running: run {run_id}" in error_html(refused[0].error)
    panel.cancel()
    assert watched.done.wait(WAIT_S), "the cancelled run did not end"
    outcome = watched.outcome
    assert outcome is not None and outcome.exit_code == 130 and outcome.result["status"] == "cancelled"
    assert "cancelled" in panel.status.value and panel.progress.bar_style == "warning"
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "cancelled" and record["exit_code"] == 130
    assert "nothing was published" in record["error"]["message"]
    assert not (run_dir / "staging").exists(), "the staged files were discarded"
    kinds = [json.loads(line)["kind"] for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert "published" not in kinds and "state_committed" not in kinds
    kernel_pid = int((run_dir / "kernel.pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(kernel_pid, 0)
    listed = json.loads(run_cli(root, "runs", "slow", "--status", "cancelled", "--json").stdout)
    assert [r["run_id"] for r in listed] == [run_id]
    assert f"data-run-id='{run_id}'" in panel.runs.table.value and "cancelled" in panel.runs.table.value


def test_bad_input_undeclared_notebook_and_unreachable_store(root: Path, tmp_path: Path) -> None:
    project = load_project(project_dir=root)
    with pytest.raises(ConfigError) as caught:
        pipeline_for(project, str(root / "scratch.ipynb"))
    assert "scratch.ipynb is not the notebook of any pipeline" in caught.value.message
    assert "pipelines:\n  scratch:\n    notebook: scratch.ipynb" in (caught.value.hint or "")
    assert pipeline_for(project, str(root / "demo.ipynb")) == "demo"
    broken = tmp_path / "broken"
    build_panel_project(broken)
    config = (broken / "nbpipe.yaml").read_text()
    # The store's directory is a file: it cannot be created or opened.
    (broken / "nbpipe.yaml").write_text(
        config + f"profiles:\n  dev:\n    store: sqlite:///{broken}/demo.ipynb/nbpipe.db\n")
    runs = RecentRuns(Cli(broken), "demo")
    runs.refresh()
    assert "nbpipe-error" in runs.table.value and "store" in runs.table.value.lower(), runs.table.value


def test_promote_previews_without_writing_then_applies_on_confirmation(root: Path) -> None:
    config = root / "nbpipe.yaml"
    before = config.read_text()
    view = PromoteView(Cli(root), "demo")
    view.preview()
    assert view.proposal is not None and not view.apply_button.disabled, view.output.value
    assert "flag: {type: bool}" in view.output.value and config.read_text() == before, "a preview writes nothing"
    assert view.accept_breaking.layout.display == "none", "no breaking change, no second confirmation"
    run_id = view.proposal["run_id"]
    view.apply()
    assert "Promoted: wrote nbpipe.yaml" in view.output.value, view.output.value
    after = load_project(project_dir=root).config.pipelines["demo"].params
    assert after["flag"].type == "bool"
    explore_runs = [p.name for p in (root / "runs").rglob(run_id) if p.is_dir()]
    assert explore_runs, "apply reused the previewed explore run"
