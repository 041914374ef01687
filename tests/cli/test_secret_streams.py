"""A secret never reaches the console or the disk unmasked: not when a cell prints or raises it, not
in its escaped forms, and not when the runner is SIGKILLed mid-cell (nothing re-masks then).

Every test greps every file under ``runs/`` (run directories, the run store) and the CLI's output.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import nbformat

from tests.support.cli import run_cli, start_cli

# Characters that HTML-escaping, repr and JSON all rewrite; the middle part identifies it in any form.
SECRET = "tok<&>\"'-7c1d9e2f-SECRET"
MARK = "7c1d9e2f"
ENV = {"API_TOKEN": SECRET}

LEAKY_CELLS = (
    "import html, json, os, sys, time\n"
    "print('token', api_token, 'length', len(api_token))\n"
    "print(repr(api_token), json.dumps(api_token), html.escape(api_token))\n"
    "sys.stderr.write('stderr ' + api_token + '\\n')\n"
    "os.write(2, ('fd2 ' + api_token + '\\n').encode())  # the kernel's own stderr: kernel.log",
    "from IPython.display import HTML, display\ndisplay(HTML('<b>' + html.escape(api_token) + '</b>'))",
)


def write_notebook(root: Path, name: str, *cells: str) -> None:
    book = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell('api_token = ""', metadata={"tags": ["parameters"]})]
        + [nbformat.v4.new_code_cell(c) for c in cells],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    for i, cell in enumerate(book.cells):
        cell["id"] = f"cell-{i}"
    nbformat.write(book, root / f"{name}.ipynb")


def assert_nothing_leaked(root: Path, *texts: str) -> list[Path]:
    """No file under runs/, no store row and none of ``texts`` holds the secret; return the files read."""
    for text in texts:
        assert MARK not in text, f"secret printed: {text[text.index(MARK) - 60:][:160]!r}"
    files = [p for p in (root / "runs").rglob("*") if p.is_file()]
    for path in files:
        data = path.read_bytes()
        assert MARK.encode() not in data, f"secret in {path.relative_to(root)}"
    db = root / "runs" / "nbpipe.db"
    if db.exists():
        with sqlite3.connect(db) as conn:
            for (table,) in conn.execute("select name from sqlite_master where type='table'"):
                for row in conn.execute(f"select * from {table}"):
                    assert MARK not in json.dumps(row, default=str), f"secret in store table {table}"
    return files


def test_a_failing_cell_that_prints_and_raises_a_secret_leaks_it_nowhere(make_project):
    root = make_project(pipelines={"leaky": {}})
    write_notebook(root, "leaky", *LEAKY_CELLS, "raise ValueError(f'rejected token {api_token!r}')")
    proc = run_cli(root, "run", "leaky", "-p", "api_token=env:API_TOKEN", env=ENV)
    assert proc.returncode == 10, proc.stderr
    assert "rejected token" in proc.stderr, "the failure line is printed, masked"
    files = assert_nothing_leaked(root, proc.stdout, proc.stderr)
    run_dir = next(p.parent for p in files if p.name == "run.json")
    record = json.loads((run_dir / "run.json").read_text())
    assert f"length {len(SECRET)}" in json.dumps(json.loads((run_dir / "output.ipynb").read_text()))
    assert record["error"]["ename"] == "ValueError" and "***" in record["error"]["evalue"]
    assert "***" in (run_dir / "report.html").read_text(encoding="utf-8")


def test_retry_line_and_progress_are_masked(make_project):
    root = make_project(pipelines={"leaky": {"retries": 1, "retry_delay_s": 0}})
    write_notebook(root, "leaky", f"raise RuntimeError('bad ' + api_token)  # {'x' * 3}")
    proc = run_cli(root, "run", "leaky", "-p", "api_token=env:API_TOKEN", env=ENV)
    assert proc.returncode == 10 and "retrying" in proc.stderr, proc.stderr
    assert_nothing_leaked(root, proc.stdout, proc.stderr)


def test_a_runner_killed_mid_cell_leaves_nothing_unmasked(make_project):
    root = make_project(pipelines={"leaky": {}})
    write_notebook(
        root, "leaky", *LEAKY_CELLS,
        "open('reached-sleep', 'w').close()\ntime.sleep(120)",
    )
    proc = start_cli(root, "run", "leaky", "-p", "api_token=env:API_TOKEN", env=ENV, new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (root / "reached-sleep").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the notebook never reached its sleeping cell"
            time.sleep(0.2)
        time.sleep(1.0)  # let the printed cells' output reach the notebook file and kernel.log
        os.kill(proc.pid, signal.SIGKILL)  # the runner only: no finishing, no masking at the end
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(ProcessLookupError):  # the orphaned kernel of this test's runner
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    files = assert_nothing_leaked(root, out, err)
    run_dir = next(p.parent for p in files if p.name == "events.jsonl")
    assert not (run_dir / "run.json").exists(), "the runner was killed before it wrote its record"
    notebook = (run_dir / "output.ipynb").read_text()
    assert "token ***" in notebook and "length" in notebook, "the printed cells were saved, masked"
    assert "fd2 ***" in (run_dir / "kernel.log").read_text(), "the kernel's own output reached kernel.log, masked"

    # The next run (same env: secret) recovers the killed one; still nothing in clear.
    write_notebook(root, "leaky", "print('fine')")
    again = run_cli(root, "run", "leaky", "-p", "api_token=env:API_TOKEN", env=ENV)
    assert again.returncode == 0, again.stderr
    assert_nothing_leaked(root, again.stdout, again.stderr)
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "failed" and "runner process was killed" in record["error"]["message"]
