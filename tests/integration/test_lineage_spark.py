"""OpenLineage events of real Spark runs: datasets, statistics, quality assertions, column lineage.

Two production runs of one tiny pipeline (read a CSV, check it, write Parquet with a rename and a
computed column) on the session's Spark Connect server, their events received over HTTP on
127.0.0.1 and validated against the OpenLineage schemas: the first succeeds (COMPLETE with
``schema``, ``dataSource``, ``outputStatistics``, ``columnLineage`` and passing assertions), the
second fails its quality gate (FAIL with ``errorMessage``, the failing assertion's expected and
actual values, and no outputs: the gate stopped the notebook before its write).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from nbpipe.core.config import load_project
from nbpipe.quality.suites import new_suite, save_suite
from nbpipe.run.runner import Runner
from tests.support.openlineage import Receiver, validate_event
from tests.support.projects import write_config

pytestmark = [pytest.mark.spark, pytest.mark.slow]

CODE = """import nbpipe
from pyspark.sql import functions as F

ctx = nbpipe.context()
raw = ctx.read("raw")
ctx.check(raw, "raw")
out = raw.filter(F.col("amount") > 0).select(
    F.col("id").alias("order_id"), "customer", (F.col("amount") * 2).alias("amount_x2"))
ctx.write(out, "orders")"""


def spark_project(root: Path, remote: str, url: str) -> Path:
    write_config(
        root, project="shop", profiles={"dev": {"spark": {"remote": remote}}},
        datasets={"raw": {"path": "landing/raw", "format": "csv", "options": {"header": "true"}},
                  "orders": {"format": "parquet"}},
        pipelines={"orders": {"notebook": "orders.ipynb", "reads": ["raw"], "writes": ["orders"]}},
        lineage={"transport": {"type": "http", "url": url}},
    )
    book = new_notebook(cells=[new_code_cell('run_date = "2024-01-01"', metadata={"tags": ["parameters"]}),
                               new_code_cell(CODE)],
                        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(book, root / "orders.ipynb")
    save_suite(root, new_suite("raw", [
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "amount", "min_value": 0,
                                                                  "max_value": 100}},
    ]))
    land(root, "a.csv", "id,customer,amount\n1,ann,1.5\n2,bob,2.5\n")
    return root


def land(root: Path, name: str, text: str) -> None:
    path = root / "landing" / "raw" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def outputs(event: dict[str, Any]) -> dict[str, Any]:
    return {o["name"].rsplit("/", 1)[-1]: o for o in event["outputs"]}


def test_spark_runs_carry_datasets_statistics_assertions_and_column_lineage(
        tmp_path: Path, spark_connect_url: str) -> None:
    with Receiver() as receiver:
        root = spark_project(tmp_path / "shop", spark_connect_url, receiver.url)
        with Runner(load_project(project_dir=root)) as runner:
            good = runner.run("orders", {"run_date": "2024-01-02"})
            assert good.status == "succeeded", good.error
            land(root, "b.csv", "id,customer,amount\n3,cy,500.0\n")
            bad = runner.run("orders", {"run_date": "2024-01-03"})
        checked = {key for event in receiver.events for key in validate_event(event)}
    assert bad.status == "failed" and bad.exit_code == 13
    assert {"schema", "dataSource", "outputStatistics", "columnLineage", "dataQualityAssertions", "test",
            "errorMessage", "nominalTime", "jobType", "sourceCode"} <= checked

    start, complete = receiver.of_run(good.record["lineage"]["run_id"])
    assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
    raw_path, orders_path = str(root / "landing" / "raw"), str(root / "warehouse" / "orders")
    assert [(d["namespace"], d["name"]) for d in start["inputs"]] == [("file", raw_path)]
    assert [(d["namespace"], d["name"]) for d in start["outputs"]] == [("file", orders_path)]
    (raw_in,) = complete["inputs"]
    assert raw_in["facets"]["dataSource"]["uri"] == "file://" + raw_path
    assert [f["name"] for f in raw_in["facets"]["schema"]["fields"]] == ["id", "customer", "amount"]
    assertions = raw_in["inputFacets"]["dataQualityAssertions"]["assertions"]
    between = next(a for a in assertions if a["assertion"] == "expect_column_values_to_be_between")
    assert between["success"] is True and between["column"] == "amount" and between["severity"] == "error"
    assert '"max_value": 100' in between["expected"]
    orders = outputs(complete)["orders"]
    assert orders["outputFacets"]["outputStatistics"]["rowCount"] == 2
    assert orders["outputFacets"]["outputStatistics"]["size"] > 0
    assert [f["name"] for f in orders["facets"]["schema"]["fields"]] == ["order_id", "customer", "amount_x2"]
    lineage = orders["facets"]["columnLineage"]["fields"]
    source = {c: [(i["name"], i["field"], i["transformations"][0]["subtype"]) for i in v["inputFields"]]
              for c, v in lineage.items()}
    assert source == {"order_id": [(raw_path, "id", "IDENTITY")], "customer": [(raw_path, "customer", "IDENTITY")],
                      "amount_x2": [(raw_path, "amount", "TRANSFORMATION")]}
    tests = complete["run"]["facets"]["test"]["tests"]
    assert {t["status"] for t in tests} == {"pass"} and len(tests) == 2

    start2, fail = receiver.of_run(bad.record["lineage"]["run_id"])
    assert (start2["eventType"], fail["eventType"]) == ("START", "FAIL")
    assert "quality gate failed" in fail["run"]["facets"]["errorMessage"]["message"]
    (raw_in,) = fail["inputs"]
    failing = next(a for a in raw_in["inputFacets"]["dataQualityAssertions"]["assertions"] if not a["success"])
    assert failing["column"] == "amount" and failing["actual"] and "1" in failing["actual"]
    assert fail.get("outputs", []) == []  # the gate stopped the notebook before it wrote anything
    assert good.record["lineage"]["run_id"] != bad.record["lineage"]["run_id"]
