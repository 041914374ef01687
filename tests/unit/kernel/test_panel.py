"""The panel's pure parts: definitions from ``nbpipe panel-params``, field checks, arguments and
secrets, CLI error parsing, escaped HTML of runs and promote diffs, JupyterLab links, fallbacks."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from nbpipe.core.params import resolve
from nbpipe.data import _display
from nbpipe.kernel.widgets import form, links, views
from nbpipe.kernel.widgets._cli import Cli, error_of, shell_line
from nbpipe.quality.results import CheckResult, ExpectationResult

SPEC = [
    {"name": "run_date", "type": "date", "default": "2013-01-01", "has_default": True, "required": False,
     "choices": None, "min": "2013-01-01", "max": "2013-12-31", "secret": False, "description": "the day"},
    {"name": "limit", "type": "int", "default": 10, "has_default": True, "required": True, "choices": None,
     "min": 1, "max": 100, "secret": False, "description": ""},
    {"name": "mode", "type": "str", "default": "fast", "has_default": True, "required": False,
     "choices": ["fast", "full"], "min": None, "max": None, "secret": False, "description": ""},
    {"name": "api-token", "type": "str", "default": None, "has_default": True, "required": False,
     "choices": None, "min": None, "max": None, "secret": True, "description": ""},
]


def test_definitions_round_trip_and_field_checks_use_nbpipe_run_wording() -> None:
    defs, notes = form.definitions(SPEC)
    assert defs["limit"].min == 1 and defs["mode"].choices == ("fast", "full") and defs["api-token"].secret
    assert notes["run_date"] == "the day"
    expected = None
    try:
        resolve(defs, {"limit": "500"}, from_cli=frozenset({"limit"}), environ={})
    except Exception as exc:  # the exact message nbpipe run prints
        expected = str(getattr(exc, "message", exc))
    assert form.check_field(defs["limit"], "500", given=True) == expected
    assert "is required" in (form.check_field(defs["limit"], None, given=False) or "")
    assert "not one of ['fast', 'full']" in (form.check_field(defs["mode"], "slow", given=True) or "")
    assert "not a valid date" in (form.check_field(defs["run_date"], "2013-02-30", given=True) or "")
    assert form.check_field(defs["run_date"], "2013-02-28", given=True) is None


def test_secrets_travel_by_environment_never_in_the_arguments() -> None:
    defs, _ = form.definitions(SPEC)
    args = form.arguments(defs, {"run_date": "2013-02-01", "limit": "5", "api-token": "s3cret", "mode": None})
    assert args.argv() == ["-p", "run_date=2013-02-01", "-p", "limit=5",
                           "-p", "api-token=env:NBPIPE_PANEL_SECRET_API_TOKEN"]
    assert args.env == {"NBPIPE_PANEL_SECRET_API_TOKEN": "s3cret"}
    assert "s3cret" not in " ".join(args.argv())


def test_values_become_cli_text() -> None:
    defs, _ = form.definitions(SPEC)
    assert form.as_text(defs["run_date"], dt.date(2013, 3, 4)) == "2013-03-04"
    assert form.as_text(defs["limit"], True) == "true"
    assert form.as_text(defs["limit"], "  ") is None and form.as_text(defs["mode"], None) is None


def test_error_of_reads_what_the_cli_printed() -> None:
    stderr = "error: pipeline 'slow' is already running: run R1 (pid 7)\nhint: wait for it\n"
    err = error_of(stderr, 5)
    assert (err.message, err.hint, err.exit_code) == ("pipeline 'slow' is already running: run R1 (pid 7)",
                                                      "wait for it", 5)
    assert error_of("Traceback-free noise\nlast line\n", 1).message.endswith("last line")
    assert error_of("", 2).message == "nbpipe exited with code 2"


def test_cli_command_and_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NBPIPE_RUN_ID", "leaked")
    monkeypatch.setenv("NBPIPE_PROFILE", "dev")
    monkeypatch.setenv("NBPIPE_SECRET_TOKEN", "kernel-secret")
    monkeypatch.setenv("NBPIPE_SPARK_REMOTE", "sc://127.0.0.1:15002")
    cli = Cli(tmp_path, "dev")
    argv = cli.command("runs", "x")
    assert argv[-4:] == ["--project", str(tmp_path), "--profile", "dev"]
    assert shell_line(argv).startswith("nbpipe runs x --project")
    env = cli.environment({"NBPIPE_PANEL_SECRET_A": "v"})
    assert "NBPIPE_RUN_ID" not in env and "NBPIPE_SECRET_TOKEN" not in env
    assert env["NBPIPE_PROFILE"] == "dev" and env["NBPIPE_SPARK_REMOTE"] == "sc://127.0.0.1:15002"
    assert env["NBPIPE_PANEL_SECRET_A"] == "v"


def test_runs_and_promote_html_are_escaped() -> None:
    rows = [{"run_id": "<r1>", "status": "cancelled", "started_at": "2026-01-01T00:00:00", "duration_s": 1.25,
             "quality": "none", "rows_written": 3, "report": None}]
    page = views.runs_html(rows)
    assert "&lt;r1&gt;" in page and "<r1>" not in page and "1.2s" in page and "cancelled" in page
    assert views.runs_html([]) == "<p class='nbpipe-runs'>No runs yet.</p>"
    proposal = {"contracts": [{"dataset": "<d>", "status": "updated", "old_version": "1.0", "new_version": "2.0",
                               "diff": {"breaking": True, "breaking_changes": ["column x removed"],
                                        "additive_changes": []}}],
                "suites": [{"dataset": "d", "status": "created", "added": [1, 2], "removed": []}],
                "config_diff": "+ params: {run_date: {type: date}}"}
    html = views.diff_html(proposal)
    assert "&lt;d&gt;" in html and "breaking: column x removed" in html and "type: date" in html
    assert views.breaking(proposal) == ["<d>"]
    assert views.breaking({"contracts": [{"dataset": "n", "status": "created", "diff": None}]}) == []


def test_lab_url_under_a_running_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    (runtime / "jpserver-1.json").write_text(json.dumps({"root_dir": str(tmp_path / "root"), "base_url": "/x/"}))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    report = tmp_path / "root" / "runs" / "p" / "r 1" / "report.html"
    nb = str(tmp_path / "root" / "nb.ipynb")
    assert links.lab_url(report, nb) == "/x/lab/tree/runs/p/r%201/report.html"
    elsewhere = tmp_path / "other" / "report.html"
    assert not links.lab_url(elsewhere, nb).startswith("/x/")


def test_outside_a_kernel_results_print_text(capsys: pytest.CaptureFixture[str]) -> None:
    result = CheckResult(suite="s", results=[ExpectationResult("expect_column_values_to_not_be_null",
                                                               {"column": "c"}, False, unexpected_count=2)])
    assert not _display.widgets_wanted()
    result.show()
    assert "FAILED: suite 's'" in capsys.readouterr().out
    _text, markup, widget = result.display_parts()
    assert "nbpipe-check" in markup and widget is not None


def test_check_and_read_widgets_build() -> None:
    import pandas as pd

    from nbpipe.data._widgets import read_widget
    from nbpipe.quality._widgets import check_widget

    bad = ExpectationResult("expect_column_values_to_be_in_set", {"column": "c", "value_set": ["a"]}, False,
                            unexpected_count=2, partial_unexpected_list=["<b>", "z"])
    box = check_widget(CheckResult(suite="s", results=[bad]))
    _table, picker, examples = box.children
    assert picker.options == (("expect_column_values_to_be_in_set(c)", 0),) and "&lt;b&gt;" in examples.value
    event = {"dataset": "d", "format": "csv", "mode": "explore", "rows": 2, "files": 1,
             "schema": [{"name": "a", "type": "int", "nullable": True}], "schema_version": "1.0",
             "contract_diff": "+ b"}
    header, tabs = read_widget(event, lambda: pd.DataFrame({"a": [1, 2]})).children
    assert "<b>2</b> rows" in header.value and [tabs.get_title(i) for i in range(3)] == ["schema", "contract",
                                                                                           "sample"]
    assert "differs" in tabs.children[1].value and "<td>2</td>" in tabs.children[2].value
    failing = read_widget(event, lambda: 1 / 0).children[1].children[2].value
    assert "No sample: ZeroDivisionError" in failing


def test_breaking_promote_needs_the_second_confirmation(tmp_path: Path) -> None:
    view = views.PromoteView(Cli(tmp_path / "no-project"), "p")
    view.proposal = {"run_id": "r", "contracts": [{"dataset": "d", "status": "updated",
                                                   "diff": {"breaking": True, "breaking_changes": ["x removed"]}}]}
    view.apply()  # no confirmation: nothing runs (the project does not even exist)
    assert "need the second confirmation" in view.output.value and view.proposal is not None
    view.accept_breaking.value = True
    view.apply()  # confirmed: nbpipe promote runs and its error (no nbpipe.yaml) is shown
    assert "nbpipe-error" in view.output.value
