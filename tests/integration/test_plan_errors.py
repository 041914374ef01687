"""Spark refusing a query's plan is deterministic: the run fails once, without retries.

A real kernel raises what pyspark raises for a plan it cannot analyse (``AnalysisException``) and
what the analyzer's iteration limit surfaces as (a JVM ``RuntimeException`` whose message says
"Max iterations (100) reached for batch Resolution"); a missing input path, also an
``AnalysisException``, stays retryable because a later attempt may find the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from nbpipe.run.engine import is_code_error
from tests.support.cli import run_cli
from tests.support.projects import write_config

RAISE = """
error = "analysis"
"""
BODY = """
from pyspark.errors import AnalysisException

if error == "analysis":
    raise AnalysisException(message="[UNRESOLVED_COLUMN.WITH_SUGGESTION] A column `tailnum` cannot be resolved.")
raise RuntimeError("Max iterations (100) reached for batch Resolution, please set "
                   "'spark.sql.analyzer.maxIterations' to a larger value.")
"""


@pytest.mark.parametrize(
    ("ename", "evalue", "code"),
    [
        ("AnalysisException", "[UNRESOLVED_COLUMN.WITH_SUGGESTION] A column `x` cannot be resolved.", True),
        ("ParseException", "[PARSE_SYNTAX_ERROR] Syntax error at or near 'FROM'", True),
        ("Py4JJavaError", "java.lang.RuntimeException: Max iterations (100) reached for batch Resolution", True),
        ("SparkConnectGrpcException", "Max iterations (100) reached for batch Resolution, please set", True),
        ("AnalysisException", "[PATH_NOT_FOUND] Path does not exist: file:/data/landing/x.csv.", False),
        ("Py4JJavaError", "java.io.IOException: Connection reset by peer", False),
        ("NameError", "name 'x' is not defined", True),
        ("ValueError", "bad value", False),
    ],
)
def test_which_cell_errors_a_retry_cannot_fix(ename: str, evalue: str, code: bool) -> None:
    assert is_code_error(ename, evalue) is code


@pytest.mark.slow
def test_a_plan_error_fails_the_run_once_without_retries(tmp_path: Path) -> None:
    root = tmp_path / "project"
    root.mkdir()
    nb = new_notebook(cells=[new_code_cell(RAISE.strip(), metadata={"tags": ["parameters"]}),
                             new_code_cell(BODY.strip())])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / "plan.ipynb")
    write_config(root, pipelines={"plan": {"notebook": "plan.ipynb", "retries": 2, "retry_delay_s": 30}})
    proc = run_cli(root, "run", "plan", "-p", "error=iterations", timeout=300)
    assert proc.returncode == 10, proc.stderr
    (run_dir,) = [p for p in (root / "runs" / "plan").iterdir() if p.is_dir()]
    record = json.loads((run_dir / "run.json").read_text())
    assert len(record["attempts"]) == 1, "a plan error is not retried"
    assert (record["error"]["type"], record["error"]["ename"]) == ("CellCodeError", "RuntimeError")
