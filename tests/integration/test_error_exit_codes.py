"""Every nbpipe error keeps its class, and so its exit code, across the kernel boundary.

An error raised in a notebook's kernel reaches the runner only by name (papermill's ``ename``); the
runner maps it back with :func:`nbpipe.errors.by_name` (httpx's ``map_httpcore_exceptions`` and its
``test_httpcore_all_exceptions_mapped`` are the model). The first test proves the map is complete;
the second raises each class in a real kernel under ``nbpipe run`` and checks the exit code and
``run.json``.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import nbpipe.errors as errors
from nbpipe.errors import NbpipeError, RunCancelledError, all_errors, by_name
from tests.support.cli import cli_env, run_cli

NOTEBOOK = "raise_nbpipe_error"  # tests/notebooks: raises the class its ``error`` parameter names


def test_every_error_class_is_mapped_by_name_and_says_whether_to_retry() -> None:
    defined = {cls for cls in vars(errors).values() if inspect.isclass(cls) and issubclass(cls, NbpipeError)}
    assert defined <= set(all_errors()), "all_errors() lists every class of nbpipe.errors"
    for cls in all_errors():
        assert by_name(cls.__name__) is cls, f"the kernel's ename {cls.__name__!r} maps back"
        assert by_name(f"{cls.__module__}.{cls.__name__}") is cls, "the qualified name maps back too"
        assert "retryable" in vars(cls), f"{cls.__name__} must say whether a retry can help"
        assert isinstance(cls.retryable, bool)
        assert "exit_code" in vars(cls), f"{cls.__name__} must name its exit code"
    for name in ("ValueError", "KeyError", "SystemExit", "other.module.ContractViolationError", ""):
        assert by_name(name) is None, name


@pytest.mark.parametrize("cls", all_errors(), ids=lambda cls: cls.__name__)
def test_a_command_that_raises_an_nbpipe_error_prints_it_and_exits_with_its_code(
    tmp_path: Path, cls: type[NbpipeError]
) -> None:
    """The root command group maps every class (raised in the CLI process) to its code; no traceback."""
    code = (
        "import sys\nimport nbpipe.errors\nfrom nbpipe.cli import app, main\n"
        "@app.command('fail')\n"
        "def fail() -> None:\n"
        f"    raise nbpipe.errors.{cls.__name__}('[red]{cls.__name__}[/] :x: failed', hint='fix [bold]it[/]')\n"
        "sys.argv = ['nbpipe', 'fail']\nmain()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=cli_env(), capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == cls.exit_code, proc.stderr
    assert proc.stderr.splitlines() == [f"error: [red]{cls.__name__}[/] :x: failed", "hint: fix [bold]it[/]"]
    assert proc.stdout == ""


@pytest.mark.slow
@pytest.mark.parametrize("cls", all_errors(), ids=lambda cls: cls.__name__)
def test_nbpipe_run_exits_with_the_code_of_the_error_the_notebook_raised(
    make_project: Callable[..., Path], cls: type[NbpipeError]
) -> None:
    root = make_project(pipelines={"raises": {"notebook": f"{NOTEBOOK}.ipynb", "retries": 0}}, notebooks=[NOTEBOOK])
    proc = run_cli(root, "run", "raises", "-p", f"error={cls.__name__}", timeout=300)
    assert proc.returncode == cls.exit_code, proc.stderr
    assert f"{cls.__name__} raised in the notebook" in proc.stderr
    assert f"hint: the hint of {cls.__name__}" in " ".join(proc.stderr.split())
    (run_dir,) = [p for p in (root / "runs" / "raises").iterdir() if p.is_dir()]
    record = json.loads((run_dir / "run.json").read_text())
    status = "cancelled" if cls is RunCancelledError else "failed"  # a cancellation is recorded as one
    assert (record["status"], record["exit_code"]) == (status, cls.exit_code)
    error = record["error"]
    assert (error["type"], error["exit_code"]) == (cls.__name__, cls.exit_code)
    assert error["message"] == f"{cls.__name__} raised in the notebook"
    assert error["hint"] == f"the hint of {cls.__name__}"
    cells = json.loads((run_dir / "output.ipynb").read_text())["cells"]
    raising = next(i for i, c in enumerate(cells) if "raise error_class" in "".join(c["source"]))
    assert (error["ename"], error["cell_index"]) == (cls.__name__, raising), "the record names the failing cell"
    assert [c["status"] for c in record["cells"]][-2:] == ["error", "not_run"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["StoreError", "DatasetError"])
def test_a_library_error_with_an_nbpipe_name_stays_a_cell_error(make_project: Callable[..., Path], name: str) -> None:
    """``great_expectations`` has a ``StoreError``, kedro a ``DatasetError``: only nbpipe's own class is mapped."""
    root = make_project(pipelines={"raises": {"notebook": f"{NOTEBOOK}.ipynb", "retries": 0}}, notebooks=[NOTEBOOK])
    proc = run_cli(root, "run", "raises", "-p", f"error=foreign:{name}", timeout=300)
    assert proc.returncode == errors.CellExecutionError.exit_code, proc.stderr
    (run_dir,) = [p for p in (root / "runs" / "raises").iterdir() if p.is_dir()]
    error = json.loads((run_dir / "run.json").read_text())["error"]
    assert (error["type"], error["ename"], error["exit_code"]) == ("CellExecutionError", name, 10)
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert not [e for e in events if e["kind"] == "error_raised"], "a foreign class is not reported as nbpipe's"
