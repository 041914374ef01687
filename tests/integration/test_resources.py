"""Measured resources and the cost model on a controlled workload, over a shared Spark Connect server.

One real run (module scope) of a pipeline that writes a big dataset (100k rows) and a tiny one
(10 rows), then does untagged Spark work in a cell of its own. The server is shared with other
runs, so everything here is attributed by job tags, never by the application's totals. The same
run is read back through run.json, the store, report.html and ``nbpipe cost``.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from tests.support.cli import run_cli
from tests.support.projects import write_config

pytestmark = [pytest.mark.spark, pytest.mark.slow]

BIG_ROWS, SMALL_ROWS = 100_000, 10
CELLS = [
    f"big_rows = {BIG_ROWS}",
    "import nbpipe\nctx = nbpipe.context()\n"
    "big = ctx.spark.range(big_rows).selectExpr('id', 'id % 97 AS k', \"repeat('x', 20) AS pad\", 'id * 1.5 AS v')\n"
    "ctx.write(big, 'big')",
    f"small = ctx.spark.range({SMALL_ROWS}).selectExpr('id', 'id % 3 AS k')\nctx.write(small, 'small')",
    "untagged = ctx.spark.range(20000).selectExpr('sum(id) AS s').collect()",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, spark_connect_url: str) -> dict[str, Any]:
    root = write_config(
        tmp_path_factory.mktemp("resources") / "p", project="costs",
        profiles={"dev": {"spark": {"remote": spark_connect_url, "small_frame_rows": 0}}},  # Spark path
        datasets={"big": {"format": "parquet", "write_mode": "overwrite"},
                  "small": {"format": "parquet", "write_mode": "overwrite"}},
        pipelines={"two_sizes": {"notebook": "two_sizes.ipynb", "writes": ["big", "small"]}},
        cost={"core_hour_usd": 0.5, "gb_month_usd": 0.25},
    )
    nb = new_notebook(cells=[new_code_cell(c) for c in CELLS],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nb.cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(nb, root / "two_sizes.ipynb")
    proc = run_cli(root, "run", "two_sizes")
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    [run_dir] = (root / "runs" / "two_sizes").iterdir()
    return {"root": root, "dir": run_dir, "record": json.loads((run_dir / "run.json").read_text())}


def _ops(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    [attempt] = record["resources"]["spark"]["attempts"]
    return {f"{op['op']} {op['dataset']}": op for op in attempt["ops"]}


def test_task_metrics_are_attributed_to_each_dataset_operation(run: dict[str, Any]) -> None:
    record = run["record"]
    [attempt] = record["resources"]["spark"]["attempts"]
    assert attempt["measured"] and attempt["error"] is None
    ops = _ops(record)
    assert set(ops) == {"write big", "write small"}
    big, small = ops["write big"]["metrics"], ops["write small"]["metrics"]
    # the rows each write's tagged tasks wrote: exactly its own dataset's (nbpipe may write more than
    # once per publish, so at least the dataset, and the big one's never the small one's)
    assert big["output_records"] >= BIG_ROWS and SMALL_ROWS <= small["output_records"] < BIG_ROWS
    assert big["output_bytes"] > 100 * small["output_bytes"]
    assert big["executor_run_time_s"] > small["executor_run_time_s"] > 0
    assert big["executor_cpu_time_s"] > 0 and big["tasks"] > 0
    # the untagged cell is notebook overhead of its own cell, with its own source line
    [overhead] = [c for c in attempt["cells"] if c["source"].startswith("untagged")]
    assert overhead["metrics"]["tasks"] > 0 and overhead["metrics"]["output_records"] == 0
    assert attempt["executor_cores"] == 2 and attempt["held_s"] > 0
    kernel, runner = record["resources"]["kernel"], record["resources"]["runner"]
    assert kernel["cpu_s"] > 0 and kernel["peak_rss_bytes"] > 10_000_000
    assert runner["cpu_s"] > 0 and runner["peak_rss_bytes"] > 10_000_000


def test_the_big_dataset_gets_most_of_the_busy_cost_and_the_lines_add_up(run: dict[str, Any]) -> None:
    cost = run["record"]["cost"]
    lines = cost["lines"]
    by_op = {line["dataset"]: line for line in lines if line["line"] == "operation"}
    assert by_op["big"]["core_s"] > 0.5 * cost["busy_core_s"] > 0
    assert by_op["big"]["usd"] > 2 * by_op["small"]["usd"]
    assert sum(line["usd"] for line in lines) == pytest.approx(cost["total_usd"], abs=1e-9)
    assert run["record"]["cost_usd"] == pytest.approx(cost["total_usd"], abs=1e-6)
    busy = sum(line["core_s"] for line in lines if line["line"] in ("operation", "notebook_overhead"))
    assert busy == pytest.approx(cost["busy_core_s"], abs=1e-5)
    [idle] = [line for line in lines if line["line"] == "idle_startup"]
    [driver] = [line for line in lines if line["line"] == "driver"]
    assert cost["allocated_core_s"] == pytest.approx(busy + idle["core_s"] + driver["core_s"], abs=1e-5)
    for line in lines:  # every figure names what was measured and the price
        assert line["quantity"] and line["core_hour_usd"] == 0.5
        assert line["usd"] == pytest.approx(line["core_s"] / 3600 * 0.5, abs=1e-8)


def test_the_store_and_the_report_hold_the_same_figures(run: dict[str, Any]) -> None:
    record = run["record"]
    with sqlite3.connect(run["root"] / "runs" / "nbpipe.db") as conn:
        [(cost_usd, busy, kernel_cpu)] = conn.execute("SELECT cost_usd, busy_core_s, kernel_cpu_s FROM runs").fetchall()
        lines = conn.execute("SELECT line, dataset, usd FROM cost_lines ORDER BY usd DESC").fetchall()
    assert cost_usd == record["cost_usd"] and busy == record["cost"]["busy_core_s"]
    assert kernel_cpu == record["resources"]["kernel"]["cpu_s"]
    assert len(lines) == len(record["cost"]["lines"])
    assert sum(u for _l, _d, u in lines) == pytest.approx(record["cost"]["total_usd"], abs=1e-9)
    html = (run["dir"] / "report.html").read_text()
    assert 'id="nbpipe-resources"' in html and "<code>write big</code>" in html and "idle / start-up" in html


def test_nbpipe_cost_breaks_the_run_down_by_dataset_pipeline_and_day(run: dict[str, Any]) -> None:
    root, record = run["root"], run["record"]
    proc = run_cli(root, "cost", "--by", "dataset", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    rows = {r["key"]: r for r in report["rows"]}
    assert rows["big"]["compute_usd"] > rows["small"]["compute_usd"]
    assert rows["big"]["storage_bytes"] > rows["small"]["storage_bytes"] > 0
    assert sum(r["compute_usd"] for r in report["rows"]) == pytest.approx(record["cost"]["total_usd"], abs=1e-8)
    totals = report["totals"]
    assert totals["compute_usd"] == pytest.approx(record["cost"]["total_usd"], abs=1e-8)
    assert totals["total_usd"] == pytest.approx(totals["compute_usd"] + totals["storage_usd"], abs=1e-12)
    big_storage = next(s for s in report["storage"] if s["dataset"] == "big" and s["kind"] == "dataset")
    assert big_storage["usd"] == pytest.approx(big_storage["bytes"] / 1024**3 * 0.25, abs=1e-9)  # 30 d = 1 month
    assert {m["key"] for m in report["top_movers"]} >= {"big", "small"}  # nothing in the previous period
    text = run_cli(root, "cost", "--by", "pipeline")
    assert text.returncode == 0 and "two_sizes" in text.stdout and "top movers:" in text.stdout
    day = json.loads(run_cli(root, "cost", "--by", "day", "--json").stdout)
    assert [r["key"] for r in day["rows"]] == [record["started_at"][:10]]


@pytest.mark.parametrize(("args", "needle"), [
    (["--since", "soon"], "--since 'soon'"), (["--since", "-3d"], "--since '-3d'"),
    (["--by", "colour"], "--by 'colour'"),
])
def test_bad_flags_are_refused_with_exit_code_3(run: dict[str, Any], args: list[str], needle: str) -> None:
    proc = run_cli(run["root"], "cost", *args)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert needle in proc.stderr and "Traceback" not in proc.stderr + proc.stdout


def test_the_resources_section_escapes_what_a_cell_wrote(tmp_path: Path) -> None:
    from nbpipe.report.run_report import render_report

    evil = "<script>window.__pwned=1</script>"
    resources = {"spark": {"attempts": [{"attempt": 1, "executor_cores": 2, "held_s": 10.0, "error": None,
                                         "ops": [{"op": "write", "dataset": "big",
                                                  "metrics": {"executor_run_time_s": 4.0, "output_records": 7}}],
                                         "cells": [{"cell": 3, "source": evil,
                                                    "metrics": {"executor_run_time_s": 1.0}}]}]},
                 "kernel": {"cpu_s": 1.5, "peak_rss_bytes": 2_000_000}, "runner": {"cpu_s": 0.5, "peak_rss_bytes": 10}}
    from nbpipe.core.costmodel import run_cost

    cost = run_cost(resources, duration_s=12.0, core_hour_usd=0.36, configured_cores=None, fallback_cores=2)
    record = {"run_id": "r1", "pipeline": "p", "status": "succeeded", "resources": resources, "cost": cost,
              "cost_usd": cost["total_usd"]}
    nbformat.write(new_notebook(cells=[new_code_cell("1")]), tmp_path / "out.ipynb")
    render_report(record, tmp_path / "out.ipynb", tmp_path / "report.html")
    html = (tmp_path / "report.html").read_text()
    section = html[html.index('id="nbpipe-resources"'):]
    assert "<code>write big</code>" in section and "4.00 s" in section and "7 rows" in section
    assert evil not in html and "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in section
    assert "2 executor cores (spark executors) held 10.00 s" in section
