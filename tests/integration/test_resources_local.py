"""Measured resources on the default profile: a ``local[2]`` session inside the notebook's kernel.

The driver (and its UI, where the task metrics are read) lives in the kernel and dies with it, so
this proves the kernel reports before papermill shuts it down. One real run for the module.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from tests.support.cli import run_cli
from tests.support.projects import write_config

pytestmark = [pytest.mark.spark, pytest.mark.slow]

CELLS = [
    "rows = 50000",
    "import nbpipe\nctx = nbpipe.context()\n"
    "ctx.write(ctx.spark.range(rows).selectExpr('id', \"repeat('y', 20) AS pad\"), 'big')\n"
    "ctx.write(ctx.spark.range(5).selectExpr('id'), 'small')",
]


@pytest.fixture(scope="module")
def record(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = write_config(
        tmp_path_factory.mktemp("resources_local") / "p", project="costs_local",
        profiles={"dev": {"spark": {"master": "local[2]", "small_frame_rows": 0}}},  # Spark path
        datasets={"big": {"format": "parquet", "write_mode": "overwrite"},
                  "small": {"format": "parquet", "write_mode": "overwrite"}},
        pipelines={"local_sizes": {"notebook": "local_sizes.ipynb", "writes": ["big", "small"]}},
    )
    nb = new_notebook(cells=[new_code_cell(c) for c in CELLS],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nb.cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(nb, root / "local_sizes.ipynb")
    proc = run_cli(root, "run", "local_sizes")
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    [run_dir] = (root / "runs" / "local_sizes").iterdir()
    return dict(json.loads(Path(run_dir, "run.json").read_text()))


def test_a_local_session_reports_its_operations_before_the_kernel_stops(record: dict[str, Any]) -> None:
    [attempt] = record["resources"]["spark"]["attempts"]
    assert attempt["measured"] and attempt["error"] is None and attempt["executor_cores"] == 2
    ops = {op["dataset"]: op["metrics"] for op in attempt["ops"]}
    assert ops["big"]["output_records"] >= 50000 and 5 <= ops["small"]["output_records"] < 50000
    assert ops["big"]["output_bytes"] > 20 * ops["small"]["output_bytes"] > 0
    cost = record["cost"]
    assert sum(line["usd"] for line in cost["lines"]) == pytest.approx(cost["total_usd"], abs=1e-9)
    assert cost["executors"][0]["cores_from"] == "spark executors"
    assert record["resources"]["kernel"]["cpu_s"] > 0
