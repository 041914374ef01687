"""Every way a notebook run can end, on a real kernel: status, exit code, message, artifacts."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from nbpipe.errors import KernelDiedError, NotebookError, ParameterError, RunTimeoutError

ARTIFACTS = ("output.ipynb", "report.html", "run.json", "events.jsonl")


def assert_record(result, status: str, exit_code: int) -> dict:
    for name in ARTIFACTS:
        assert (result.run_dir / name).is_file(), f"{name} missing from {result.run_dir}"
    record = json.loads((result.run_dir / "run.json").read_text())
    assert record["schema_version"] == 1
    assert record["status"] == status == result.status
    assert record["exit_code"] == exit_code == result.exit_code
    assert record["run_id"] == result.run_id
    return record


def test_successful_run_injects_typed_parameters(make_project, runner_for):
    root = make_project(pipelines={"ok": {}})
    result = runner_for(root).run(
        "ok",
        {"limit": "7", "flag": "true", "run_date": "2013-01-02"},
        from_cli=frozenset({"limit", "flag", "run_date"}),
    )
    record = assert_record(result, "succeeded", 0)
    assert record["params"] == {"limit": 7, "flag": True, "run_date": "2013-01-02"}
    nb = nbformat.read(result.run_dir / "output.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "run_date 2013-01-02 int float True" in printed
    assert [c["status"] for c in record["cells"]] == ["ok"] * 4
    assert all(c["duration_s"] is not None for c in record["cells"])
    assert record["versions"]["papermill"] and record["versions"]["python"]
    assert record["attempts"][0]["status"] == "succeeded"


def test_cell_exception_fails_with_cell_and_error(make_project, runner_for):
    root = make_project(pipelines={"exception": {}})
    result = runner_for(root).run("exception")
    record = assert_record(result, "failed", 10)
    err = record["error"]
    assert err["type"] == "CellExecutionError" and err["ename"] == "ValueError"
    assert err["cell_index"] == 3
    assert "cell 3 (In [4]) raised ValueError: bad value in column dep_delay" in err["message"]
    assert any("bad value" in line for line in err["traceback"])
    states = [c["status"] for c in record["cells"]]
    assert states[-2:] == ["error", "not_run"]
    assert "nbpipe run exception" in record["retry_command"]


def write_notebook(root: Path, name: str, *cells: str) -> None:
    """``root/<name>.ipynb`` with these code cells (no parameters cell: papermill inserts its cell 0)."""
    book = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(c) for c in cells],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    for i, cell in enumerate(book.cells):
        cell["id"] = f"cell-{i}"
    nbformat.write(book, root / f"{name}.ipynb")


def printed(result) -> str:
    nb = nbformat.read(result.run_dir / "output.ipynb", as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def test_failing_line_magic_fails_the_run(make_project, runner_for):
    # The kernel replies "error" (UsageError) but writes only a stderr stream, no error output.
    root = make_project(pipelines={"magic": {}})
    write_notebook(root, "magic", "print('before')", "%undefined-line-magic", "print('never ran')")
    result = runner_for(root).run("magic")
    record = assert_record(result, "failed", 10)
    assert record["error"]["type"] == "CellExecutionError" and record["error"]["ename"] == "UsageError"
    assert record["error"]["cell_index"] == 2
    assert "cell 2 (In [3]) raised UsageError: Line magic function `%undefined-line-magic` not found" in (
        record["error"]["message"])
    assert [c["status"] for c in record["cells"]] == ["ok", "ok", "error", "not_run"]
    assert "never ran" not in printed(result)


@pytest.mark.parametrize("exit_line", ["sys.exit()", "sys.exit(0)", "raise SystemExit"])
def test_sys_exit_without_error_code_stops_early_and_succeeds(make_project, runner_for, exit_line):
    root = make_project(pipelines={"early": {}})
    write_notebook(root, "early", "import sys\nprint('before')", f"if True:\n    {exit_line}", "print('never ran')")
    result = runner_for(root).run("early")
    record = assert_record(result, "succeeded", 0)
    assert record["error"] is None
    assert record["stopped_early"]["cell_index"] == 2
    assert record["stopped_early"]["message"].startswith("stopped early at cell 2 (In [3])")
    assert result.stopped_early == record["stopped_early"]["message"]
    assert record["stopped_early"]["message"] in record["warnings"]
    assert [c["status"] for c in record["cells"]] == ["ok", "ok", "stopped", "not_run"]
    assert "never ran" not in printed(result) and "before" in printed(result)
    report = (result.run_dir / "report.html").read_text(encoding="utf-8")
    assert "Stopped early" in report and "stopped early at cell 2 (In [3])" in report
    assert 'id="nbpipe-failure"' not in report


@pytest.mark.parametrize(("exit_line", "evalue"), [("sys.exit(3)", "3"), ("sys.exit('no rows for 2013-01-02')",
                                                                          "no rows for 2013-01-02")])
def test_sys_exit_with_an_error_code_fails(make_project, runner_for, exit_line, evalue):
    root = make_project(pipelines={"exit_code": {}})
    write_notebook(root, "exit_code", "import sys", exit_line, "print('never ran')")
    result = runner_for(root).run("exit_code")
    record = assert_record(result, "failed", 10)
    assert (record["error"]["ename"], record["error"]["evalue"]) == ("SystemExit", evalue)
    assert record["stopped_early"] is None
    assert [c["status"] for c in record["cells"]] == ["ok", "ok", "error", "not_run"]


def test_sys_exit_one_is_a_failed_cell(make_project, runner_for):
    root = make_project(pipelines={"sys_exit": {}})
    result = runner_for(root).run("sys_exit")
    record = assert_record(result, "failed", 10)
    assert record["error"]["ename"] == "SystemExit" and record["error"]["evalue"] == "1"


def test_os_exit_kills_the_kernel_and_fails_cleanly(make_project, runner_for):
    root = make_project(pipelines={"os_exit": {}})
    result = runner_for(root).run("os_exit")
    record = assert_record(result, "failed", KernelDiedError.exit_code)
    assert record["error"]["type"] == "KernelDiedError"
    assert "kernel died while executing cell 3 " in record["error"]["message"]
    nb = nbformat.read(result.run_dir / "output.ipynb", as_version=4)
    assert "before" in "".join(o.get("text", "") for o in nb.cells[2].outputs)


def test_endless_loop_hits_cell_timeout(make_project, runner_for):
    root = make_project(pipelines={"endless": {"cell_timeout_s": 3}})
    result = runner_for(root).run("endless")
    record = assert_record(result, "failed", RunTimeoutError.exit_code)
    assert "cell 2 (In [3]) exceeded the cell timeout of 3 s" in record["error"]["message"]
    assert "cell_timeout_s" in record["error"]["hint"]


def test_whole_run_timeout_kills_the_kernel(make_project, runner_for):
    root = make_project(pipelines={"slow": {"timeout_s": 5}})
    result = runner_for(root).run("slow")
    record = assert_record(result, "failed", RunTimeoutError.exit_code)
    assert "exceeded its timeout of 5 s while executing cell 3 (In [4])" in record["error"]["message"]
    # The 30 s sleep was cut short by killing the kernel: that cell is the failed one, nothing after it ran.
    assert [c["status"] for c in record["cells"]][-1] == "error"
    assert record["error"]["cell_index"] == 3


def test_notebook_without_parameters_cell_runs_plain(make_project, runner_for):
    root = make_project(pipelines={"no_parameters": {}})
    result = runner_for(root).run("no_parameters")
    assert_record(result, "succeeded", 0)


def test_parameters_for_notebook_without_parameters_cell_are_refused(make_project, runner_for):
    root = make_project(pipelines={"no_parameters": {}})
    with pytest.raises(NotebookError, match="no cell tagged 'parameters'"):
        runner_for(root).run("no_parameters", {"x": "1"}, from_cli=frozenset({"x"}))
    assert not (root / "runs" / "no_parameters").exists()


def test_unknown_and_mistyped_parameters_fail_before_any_kernel(make_project, runner_for):
    root = make_project(pipelines={"ok": {}})
    runner = runner_for(root)
    with pytest.raises(ParameterError, match=r"unknown parameter 'limt' \(did you mean 'limit'\?\)"):
        runner.run("ok", {"limt": "3"}, from_cli=frozenset({"limt"}))
    with pytest.raises(ParameterError, match=r"parameter 'limit': 'ten' is not a valid int"):
        runner.run("ok", {"limit": "ten"}, from_cli=frozenset({"limit"}))
    with pytest.raises(ParameterError, match=r"'2013-13-01' is not a valid date"):
        runner.run("ok", {"run_date": "2013-13-01"}, from_cli=frozenset({"run_date"}))
    assert not (root / "runs" / "ok").exists(), "a refused run must leave nothing behind"


def test_required_parameter_from_config(make_project, runner_for):
    root = make_project(pipelines={"ok": {"params": {"run_date": {"type": "date", "required": True}}}})
    with pytest.raises(ParameterError, match="parameter 'run_date' is required"):
        runner_for(root).run("ok")


def test_twenty_megabytes_of_output(make_project, runner_for):
    root = make_project(pipelines={"big_output": {}})
    result = runner_for(root).run("big_output")
    assert_record(result, "succeeded", 0)
    assert (result.run_dir / "output.ipynb").stat().st_size > 20_000_000
    assert (result.run_dir / "report.html").stat().st_size < 5_000_000


def test_non_utf8_output(make_project, runner_for, monkeypatch):
    # ipykernel stops forwarding fd-level output (subprocesses, os.write) under pytest.
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    root = make_project(pipelines={"non_utf8": {}})
    result = runner_for(root).run("non_utf8")
    assert_record(result, "succeeded", 0)
    nb = nbformat.read(result.run_dir / "output.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "after" in text and "caf\ufffd" in text and "raw \ufffd" in text
    assert "caf" in (result.run_dir / "report.html").read_text(encoding="utf-8")


def test_retries_with_backoff_record_every_attempt(make_project, runner_for):
    root = make_project(pipelines={"flaky": {"retries": 2, "retry_delay_s": 1.5}})
    slept: list[float] = []
    result = runner_for(root, sleep=slept.append, jitter=lambda: 0.5).run("flaky")
    record = assert_record(result, "succeeded", 0)
    assert [a["status"] for a in record["attempts"]] == ["failed", "succeeded"]
    assert "kernel died" in record["attempts"][0]["error"]
    assert slept == [pytest.approx(1.5 * 1.25)]
    assert (result.run_dir / "attempt-1.ipynb").is_file()


def test_retries_exhausted_fail_with_last_error(make_project, runner_for):
    root = make_project(pipelines={"os_exit": {"retries": 2, "retry_delay_s": 1}})
    slept: list[float] = []
    result = runner_for(root, sleep=slept.append, jitter=lambda: 0.0).run("os_exit")
    record = assert_record(result, "failed", KernelDiedError.exit_code)
    assert len(record["attempts"]) == 3
    assert slept == [1.0, 2.0], "exponential backoff: delay doubles per attempt"


def test_plain_and_api_notebooks_get_metrics_recorded(make_project, runner_for):
    root = make_project(pipelines={"nbpipe_api": {}})
    result = runner_for(root).run("nbpipe_api", {"limit": "21"}, from_cli=frozenset({"limit"}))
    record = assert_record(result, "succeeded", 0)
    assert record["metrics"] == {"rows_seen": 42.0}
    nb = nbformat.read(result.run_dir / "output.ipynb", as_version=4)
    assert "prod nbpipe_api 2013-01-01" in "".join(o.get("text", "") for o in nb.cells[-1].outputs)


def test_run_ids_sort_by_time(make_project, runner_for):
    root = make_project(pipelines={"no_parameters": {}})
    runner = runner_for(root)
    ids = [runner.run("no_parameters").run_id for _ in range(2)]
    assert ids == sorted(ids) and ids[0] != ids[1]
    listed = [r["run_id"] for r in runner.store.list_runs("no_parameters")]
    assert listed == sorted(ids, reverse=True)


def test_record_lands_in_the_store(make_project, runner_for):
    root = make_project(pipelines={"exception": {}})
    runner = runner_for(root)
    result = runner.run("exception")
    stored = runner.store.get_run(result.run_id[:20])
    assert stored["status"] == "failed" and stored["error"]["ename"] == "ValueError"
    assert Path(root / "runs" / "nbpipe.db").is_file()


def test_next_run_removes_staging_left_by_a_failed_run(make_project, runner_for):
    root = make_project(pipelines={"exception": {}})
    runner = runner_for(root)
    failed = runner.run("exception")
    litter = failed.run_dir / "staging" / "flights" / "flight_date=2013-01-01"
    litter.mkdir(parents=True)
    (litter / "part-00000.parquet").write_bytes(b"never published")
    again = runner.run("exception")
    assert again.status == "failed"
    assert not (failed.run_dir / "staging").exists(), "the failed run's staging was cleaned up"
    assert (failed.run_dir / "run.json").exists(), "its evidence is kept"
