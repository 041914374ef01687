"""Hostile inputs through the real ``nbpipe`` CLI: the documented exit code, a clear message, no traceback.

One row of :data:`CASES` is one user mistake (or attack): the command line, what the project holds,
the exit code ``nbpipe`` must end with, fragments its stderr must contain, and text that must not
appear anywhere in its output (secret values, a file's content, emoji a value was rewritten to).
Every row also checks that no Python ``Traceback`` is printed and, unless the row expects a run,
that no run directory was left behind. To add a row, append a :class:`Case`; ``setup`` writes
extra files and ``before`` runs commands first (e.g. to have runs to look up).

The project: pipeline ``hostile`` (a notebook whose cell raises ``ValueError('bad row <label>')``
when ``label`` is not the default, so a user's value reaches the failure message) and ``ok``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from tests.support.cli import cli_env, run_cli
from tests.support.projects import build_project

SECRET = "s3cr3t-Value-42"
PARAMS = 'label = "hello"\nlimit = 10\nratio = 0.5\nitems = ["a"]\nflag = False\nregion = "eu"\napi_token = ""'
RAISES = "if label != 'hello':\n    raise ValueError(f'bad row {label}')\nprint('row', label)"
WIDE = {"COLUMNS": "250"}  # tables are not cut at 80 columns
# The ``reader`` pipeline: reads the CSV dataset ``landing`` in prod and prints what it got.
READER = ("import nbpipe\nctx = nbpipe.context()\ndf = ctx.read('landing')\n"
          "assert not expect or ','.join(df.columns) == expect, f'read columns {df.columns}, expected {expect}'\n"
          "print('columns', df.columns, 'rows', df.count())")
LANDING = {"landing": {"path": "landing", "format": "csv", "options": {"header": "true"}}}


@dataclass(frozen=True)
class Case:
    """One hostile input and what ``nbpipe`` must do with it.

    Attributes:
        id: The test id.
        args: The command line after ``nbpipe``.
        exit_code: The exit code nbpipe documents for this failure.
        stderr: Fragments stderr must contain (compared with runs of whitespace collapsed).
        stdout: Fragments stdout must contain.
        absent: Text that must appear in neither stream.
        pipelines: Pipeline config overrides, merged into the default ``hostile`` and ``ok``.
        profiles: The ``profiles:`` section, if not the default.
        files: Extra files (path relative to the project → text or bytes).
        env: Extra environment variables.
        before: Commands run first (each must exit 0 or 10, as a run does).
        runs: Whether the command may create a run directory.
        datasets: The ``datasets:`` section (the ``reader`` pipeline reads ``landing``).
        links: Symbolic links to create (path relative to the project → target).
    """

    id: str
    args: tuple[str, ...]
    exit_code: int
    stderr: tuple[str, ...] = ()
    stdout: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    pipelines: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    profiles: Mapping[str, Any] | None = None
    files: Mapping[str, str | bytes] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    before: tuple[tuple[str, ...], ...] = ()
    runs: bool = False
    datasets: Mapping[str, Any] = field(default_factory=dict)
    links: Mapping[str, str] = field(default_factory=dict)


CASES = [
    # --- values are printed as plain text: no rich markup, no :emoji: codes ---------------------
    Case("markup-in-param-name", ("run", "hostile", "-p", "[/x]=1"), 3, stderr=("unknown parameter '[/x]'",)),
    Case("emoji-in-bad-value", ("run", "hostile", "-p", "limit=:x:[bold]"), 3,
         stderr=("parameter 'limit': ':x:[bold]' is not a valid int",), absent=("❌",)),
    Case("markup-close-tag-in-failure-message", ("run", "hostile", "-p", "label=[/red]"), 10, runs=True,
         stderr=("raised ValueError: bad row [/red]", "retry: nbpipe run hostile -p 'label=[/red]'")),
    Case("emoji-in-failure-message", ("run", "hostile", "-p", "label=:x: [bold]x"), 10, runs=True,
         stderr=("raised ValueError: bad row :x: [bold]x", "retry: nbpipe run hostile -p 'label=:x: [bold]x'"),
         absent=("❌",)),
    Case("markup-in-runs-table", ("runs",), 0, env=WIDE, runs=True,
         before=(("run", "hostile", "-p", "label=:x:[/x]"),),
         stdout=("raised ValueError: bad row :x:[/x]",), absent=("❌",)),
    Case("markup-in-show", ("show", "2"), 0, runs=True, before=(("run", "hostile", "-p", "label=:x:[/x]"),),
         stdout=('"label": ":x:[/x]"', "error: cell 2 (In [3]) raised ValueError: bad row :x:[/x]"), absent=("❌",)),
    # --- --params-file -------------------------------------------------------------------------
    Case("params-file-missing", ("run", "hostile", "--params-file", "nope.yaml"), 3,
         stderr=("params file nope.yaml does not exist", "hint: pass a UTF-8 YAML or JSON file")),
    Case("params-file-is-a-directory", ("run", "hostile", "--params-file", "."), 3,
         stderr=("params file . is not a file",)),
    Case("params-file-binary", ("run", "hostile", "--params-file", "p.bin"), 3,
         files={"p.bin": b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x00"}, stderr=("params file p.bin is not UTF-8 text",)),
    Case("params-file-bad-yaml-is-not-echoed", ("run", "hostile", "--params-file", "p.yaml"), 3,
         files={"p.yaml": f"label: [unclosed, {SECRET}\n"}, stderr=("p.yaml is not valid YAML/JSON at line",),
         absent=(SECRET,)),
    Case("params-file-not-a-mapping", ("run", "hostile", "--params-file", "p.yaml"), 3,
         files={"p.yaml": "- a\n- b\n"}, stderr=("must hold a mapping of parameter names to values, not a list",)),
    # --- run ids are usage errors (3) ----------------------------------------------------------
    Case("ambiguous-run-id-prefix", ("show", "2"), 3, runs=True,
         before=(("run", "ok"), ("run", "ok", "--force")),
         stderr=("run id prefix '2' is ambiguous: it matches 2", "hint: type more characters of the run id")),
    Case("unknown-run-id", ("show", "zzz"), 3, stderr=("no run 'zzz' in the run store", "nbpipe runs")),
    Case("unknown-resume-run-id", ("run", "hostile", "--resume", "zzz"), 3, stderr=("no run 'zzz'",)),
    # --- parameter values ----------------------------------------------------------------------
    Case("unterminated-json-list", ("run", "hostile", "-p", "items=[1,"), 3,
         stderr=("parameter 'items': '[1,' is not a valid list",)),
    Case("list-with-empty-item", ("run", "hostile", "-p", "items=a,,b"), 3,
         stderr=("parameter 'items': 'a,,b' is not a valid list",)),
    Case("nan-within-bounds", ("run", "hostile", "-p", "ratio=nan"), 3,
         pipelines={"hostile": {"params": {"ratio": {"min": 0, "max": 1}}}},
         stderr=("parameter 'ratio': nan is not a number", "0.0 <= ratio <= 1.0")),
    # --- parameter declarations are checked at load (2) and name the pipeline and parameter --------
    Case("min-above-max", ("run", "ok"), 2, pipelines={"hostile": {"params": {"ratio": {"min": 1, "max": 0}}}},
         stderr=("pipelines.hostile.params.ratio: 'min' 1 is above 'max' 0",)),
    Case("min-of-the-wrong-declared-type", ("run", "hostile", "-p", "limit=3"), 2,
         pipelines={"hostile": {"params": {"limit": {"type": "int", "min": "abc"}}}},
         stderr=("pipelines.hostile.params.limit: 'min' 'abc' is not of type int",)),
    Case("min-of-the-wrong-inferred-type", ("run", "hostile", "-p", "limit=3"), 2,
         pipelines={"hostile": {"params": {"limit": {"min": "abc"}}}},
         stderr=("pipelines.hostile.params.limit: 'min' 'abc' is not of type int", "type of its default")),
    Case("choices-of-the-wrong-type", ("run", "hostile", "-p", "limit=3"), 2,
         pipelines={"hostile": {"params": {"limit": {"type": "int", "choices": ["a", "b"]}}}},
         stderr=("pipelines.hostile.params.limit: choice 'a' is not of type int",)),
    Case("bounds-on-a-bool", ("run", "hostile"), 2,
         pipelines={"hostile": {"params": {"flag": {"type": "bool", "max": True}}}},
         stderr=("pipelines.hostile.params.flag: 'min'/'max' apply to",)),
    # --- notebooks -------------------------------------------------------------------------------
    Case("notebook-outside-the-project", ("run", "ok"), 2,
         pipelines={"hostile": {"notebook": "../../../../../../etc/passwd"}},
         stderr=("pipelines.hostile.notebook '../../../../../../etc/passwd' is outside the project directory",),
         absent=("root:",)),
    Case("notebook-that-is-not-json-is-not-echoed", ("run", "hostile"), 4,
         pipelines={"hostile": {"notebook": "notes.ipynb"}}, files={"notes.ipynb": f"password={SECRET}\n"},
         stderr=("notebook notes.ipynb of pipeline 'hostile' is not a readable Jupyter notebook",),
         absent=(SECRET,)),
    # --- run store URLs --------------------------------------------------------------------------
    Case("mysql-store", ("runs",), 2, profiles={"dev": {"store": f"mysql://u:{SECRET}@localhost/db"}},
         stderr=("profiles.dev.store: the run store URL scheme mysql:// is not supported",
                 "sqlite:///runs/nbpipe.db or postgresql+psycopg://"), absent=(SECRET, "pip install")),
    Case("postgresql-with-another-driver", ("runs",), 2, profiles={"dev": {"store": "postgresql+psycopg2://u@h/db"}},
         stderr=("scheme postgresql+psycopg2:// is not supported",)),
    # --- secrets from env: ------------------------------------------------------------------------
    Case("env-secret-of-the-wrong-type", ("run", "hostile", "-p", "limit=env:NBP_X"), 3, env={"NBP_X": SECRET},
         stderr=("parameter 'limit': *** is not a valid int",), absent=(SECRET,)),
    Case("env-secret-not-a-choice", ("run", "hostile", "-p", "region=env:NBP_X"), 3, env={"NBP_X": SECRET},
         pipelines={"hostile": {"params": {"region": {"choices": ["eu", "us"]}}}},
         stderr=("parameter 'region': *** is not one of ['eu', 'us']",), absent=(SECRET,)),
    Case("env-secret-below-minimum", ("run", "hostile", "-p", "limit=env:NBP_X"), 3, env={"NBP_X": "-5"},
         pipelines={"hostile": {"params": {"limit": {"min": 0}}}},
         stderr=("parameter 'limit': *** is below the minimum 0",), absent=("-5",)),
    Case("backfill-retry-hides-a-secret-value", ("backfill", "hostile", "--from", "2013-01-01", "--to", "2013-01-01",
                                                 "--param", "label", "-p", f"api_token={SECRET}"), 10, runs=True,
         env=WIDE, stdout=("raised ValueError: bad row 2013-01-01",), stderr=("-p api_token=env:API_TOKEN",),
         absent=(SECRET,)),
    Case("init-below-a-file", ("init", "hostile.ipynb/sub"), 1,
         stderr=("cannot create a project in hostile.ipynb/sub: Not a directory", "hint: pass a directory")),
    # --- the Airflow export and the retries a scheduler overrides ----------------------------------------
    Case("airflow-export-schedule-without-a-date-parameter", ("airflow", "export", "--out", "dags"), 2,
         pipelines={"hostile": {"schedule": "@daily"}},
         stderr=("pipeline 'hostile' is scheduled (@daily) but has no date parameter for the scheduler to fill",
                 "schedule_param: <name> under pipelines.hostile")),
    Case("airflow-export-nbpipe-bin-not-executable", ("airflow", "export", "--nbpipe-bin", "/nonexistent/nbpipe"), 2,
         stderr=("--nbpipe-bin '/nonexistent/nbpipe' is not an executable file", "hint: pass the absolute path")),
    Case("run-retries-out-of-range", ("run", "hostile", "--retries", "-1"), 2, stderr=("--retries",)),
    # --- hostile landing files, read by the reader pipeline (a real Spark read in the kernel) ----------
    Case("empty-csv-holds-no-rows", ("run", "reader"), 0, runs=True, datasets=LANDING,
         files={"landing/a.csv": "", "landing/b.csv": "   \n"}, stdout=("succeeded",)),
    Case("bom-in-a-csv-header-is-stripped", ("run", "reader", "-p", "expect=order_id,amount"), 0, runs=True,
         datasets=LANDING,
         files={"landing/a.csv": "\ufefforder_id,amount\n1,2.5\n"}, stdout=("succeeded",)),
    Case("latin-1-bytes-fail-a-utf-8-dataset", ("run", "reader"), 8, runs=True,
         datasets={"landing": {**LANDING["landing"], "on_bad_rows": "fail"}},
         files={"landing/a.csv": b"name,n\nJos\xe9,1\n"},
         stderr=("not valid utf-8", "datasets.landing.encoding"), absent=("\ufffd",)),
    Case("symlink-out-of-the-landing-zone", ("run", "reader"), 6, runs=True, datasets=LANDING,
         files={"landing/a.csv": "id\n1\n"}, links={"landing/b.csv": "/etc/hostname"},
         stderr=("is a symbolic link", "follow_symlinks"), absent=("Traceback",)),
    Case("retry-keeps-the-env-reference", ("run", "hostile", "-p", "label=env:NBP_LABEL"), 10, runs=True,
         env={"NBP_LABEL": SECRET}, stderr=("retry: nbpipe run hostile -p label=env:NBP_LABEL",), absent=(SECRET,)),
]


def write_hostile_notebook(path: Path) -> None:
    write_notebook(path, [new_code_cell(PARAMS, metadata={"tags": ["parameters"]}), new_code_cell(RAISES)])


def write_notebook(path: Path, cells: list[Any]) -> None:
    book = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                              "language": "python"}})
    for i, cell in enumerate(book.cells):
        cell["id"] = f"cell-{i}"
    nbformat.write(book, path)


def make(root: Path, case: Case) -> Path:
    pipelines: dict[str, dict[str, Any]] = {"hostile": {"notebook": "hostile.ipynb", "retries": 0}, "ok": {}}
    if case.datasets:
        pipelines["reader"] = {"notebook": "reader.ipynb", "reads": ["landing"]}
    for name, overrides in case.pipelines.items():
        pipelines[name] = {**pipelines.get(name, {}), **overrides}
    extra: dict[str, Any] = {"profiles": dict(case.profiles)} if case.profiles is not None else {}
    if case.datasets:
        extra["datasets"] = dict(case.datasets)
    build_project(root, pipelines=pipelines, **extra)
    write_hostile_notebook(root / "hostile.ipynb")
    if case.datasets:
        write_notebook(root / "reader.ipynb", [new_code_cell('expect = ""', metadata={"tags": ["parameters"]}),
                                               new_code_cell(READER)])
    for rel, content in case.files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    for rel, points_to in case.links.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).symlink_to(points_to)
    return root


def run_dirs(root: Path) -> set[Path]:
    runs = root / "runs"
    return {p for p in runs.glob("*/*") if p.is_dir() and not p.parent.name.startswith(".")} if runs.is_dir() else set()


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_hostile_input(tmp_path: Path, case: Case) -> None:
    root = make(tmp_path / "project", case)
    for before in case.before:
        done = run_cli(root, *before, env=case.env, timeout=300)
        assert done.returncode in (0, 10), f"setup command {before} failed: {done.stderr}"
    existing = run_dirs(root)
    proc = run_cli(root, *case.args, env=case.env, timeout=300)
    out, err = proc.stdout, proc.stderr
    assert proc.returncode == case.exit_code, f"exit {proc.returncode}\nstdout: {out}\nstderr: {err}"
    assert "Traceback" not in out + err
    for fragment in case.stderr:
        assert flat(fragment) in flat(err), f"{fragment!r} not in stderr:\n{err}"
    for fragment in case.stdout:
        assert flat(fragment) in flat(out), f"{fragment!r} not in stdout:\n{out}"
    for text in case.absent:
        assert text not in out + err, f"{text!r} must not be printed"
    if not case.runs:
        assert run_dirs(root) == existing, "a refused command leaves no run directory behind"


def test_an_unexpected_exception_prints_one_line_and_where_its_traceback_is(tmp_path: Path) -> None:
    """A bug is not an NbpipeError: one ``error:`` line (as plain text), the crash log's path, exit 1."""
    code = (
        "from nbpipe.cli import app, main\n"
        "@app.command('boom')\n"
        "def boom() -> None:\n"
        "    raise RuntimeError('[bold]kaput :x:')\n"
        "import sys\nsys.argv = ['nbpipe', 'boom']\nmain()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=cli_env({"TMPDIR": str(tmp_path)}),
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[0] == "error: unexpected RuntimeError: [bold]kaput :x:"
    (log,) = (tmp_path / "nbpipe-crash").glob("crash-*.log")
    assert lines[1] == f"hint: the traceback is in {log}; please report it with that file"
    text = log.read_text()
    assert "Traceback" in text and "RuntimeError: [bold]kaput :x:" in text and "command: nbpipe boom" in text
