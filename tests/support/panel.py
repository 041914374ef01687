"""A small non-Spark project for the notebook panel's tests (integration and JupyterLab).

* ``demo``: typed parameters (a bounded date with a description, a bounded int, choices, a bool, a
  secret ``api_token``), a pandas quality check with one failing expectation (``quality: warn``),
  and a last cell ``ctx.panel()``, so a production run shows what the panel renders outside
  JupyterLab.
* ``slow``: stages a file the way ``ctx.write`` does, writes its kernel's pid to the run directory,
  then loops until cancelled.
* ``scratch.ipynb``: a notebook no pipeline declares.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from tests.support.projects import write_config

KERNEL = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
          "language_info": {"name": "python"}}
DEMO_PARAMS = 'run_date = "2013-01-01"\nlimit = 10\nmode = "fast"\nflag = False\napi_token = ""'
CHECK_CELL = ("import pandas as pd\nframe = pd.DataFrame({'carrier': ['AA', 'UA', None], 'delay': [1, 2, 3]})\n"
              "ctx.check(frame, 'demo')")


def notebook(params: str, *cells: str) -> nbformat.NotebookNode:
    book = new_notebook(cells=[new_code_cell(params, metadata={"tags": ["parameters"]}),
                               *[new_code_cell(c) for c in cells]], metadata=KERNEL)
    for i, cell in enumerate(book.cells):
        cell["id"] = f"cell-{i}"
    return book


def build_panel_project(root: Path) -> Path:
    """Write the panel test project to ``root``; return ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook(
        DEMO_PARAMS,
        "import nbpipe\nctx = nbpipe.context()",
        "print('token length', len(api_token))",
        CHECK_CELL,
        "total = limit * 2\nprint(run_date, mode, flag, total)",
        "ctx.panel()",
    ), root / "demo.ipynb")
    nbformat.write(notebook(
        'run_date = "2013-01-01"',
        "import os, pathlib\nrun_dir = pathlib.Path(os.environ['NBPIPE_RUN_DIR'])\n"
        "(run_dir / 'kernel.pid').write_text(str(os.getpid()))\n"
        "staged = run_dir / 'staging' / 'out' / 'part-0.parquet'\n"
        "staged.parent.mkdir(parents=True, exist_ok=True)\nstaged.write_bytes(b'staged')",
        "import time\nwhile True:\n    time.sleep(0.1)",
    ), root / "slow.ipynb")
    nbformat.write(notebook('x = 1', "import nbpipe\nctx = nbpipe.context()"), root / "scratch.ipynb")
    (root / "expectations").mkdir(exist_ok=True)
    (root / "expectations" / "demo.json").write_text(json.dumps({"name": "demo", "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "carrier"}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "delay", "min_value": 0}},
    ]}))
    return write_config(
        root,
        project="paneltest",
        pipelines={
            "demo": {
                "notebook": "demo.ipynb",
                "quality": "warn",
                "params": {
                    "run_date": {"type": "date", "min": "2013-01-01", "max": "2013-12-31",
                                 "description": "the day to process"},
                    "limit": {"type": "int", "min": 1, "max": 100},
                    "mode": {"choices": ["fast", "full"]},
                },
            },
            "slow": {"notebook": "slow.ipynb"},
        },
    )
