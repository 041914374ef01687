"""The notebook linter: every rule, its message, and where it points (cell, In [n], line)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nbpipe.promote.lint import PathRoot, lint_notebook, project_roots
from tests.support.projects import load


def nb(*cells: tuple[str, str | list[str]] | str, tags: dict[int, list[str]] | None = None,
       counts: dict[int, int] | None = None) -> dict[str, Any]:
    """A notebook dict: plain strings are code cells, ``("markdown", text)`` other kinds."""
    out = []
    for i, cell in enumerate(cells):
        kind, source = cell if isinstance(cell, tuple) else ("code", cell)
        entry: dict[str, Any] = {"cell_type": kind, "metadata": {"tags": (tags or {}).get(i, [])},
                                 "source": source}
        if kind == "code":
            entry.update(outputs=[], execution_count=(counts or {}).get(i))
        out.append(entry)
    return {"cells": out, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


PARAMS = "run_date = '2013-01-01'"


def test_clean_notebook_has_no_findings() -> None:
    report = lint_notebook(nb(PARAMS, "import nbpipe\nctx = nbpipe.context()\nspark = ctx.spark\n"
                              "df = ctx.read('raw')\nctx.write(df, 'out')", tags={0: ["parameters"]}))
    assert report.issues == []
    assert report.ok
    assert report.render() == "lint notebook: ok"


def test_missing_parameters_tag_is_a_warning_that_says_how_to_tag() -> None:
    report = lint_notebook(nb(("markdown", "# title"), PARAMS, "x = run_date"), name="nb.ipynb")
    assert report.codes() == ["NB100"]
    issue = report.issues[0]
    assert issue.severity == "warning" and report.ok
    assert "cell 1 looks like it holds the defaults" in issue.message
    assert "property inspector" in issue.message and "'parameters'" in issue.message
    assert "nb.ipynb: 0 error(s), 1 warning(s)" in report.render()


def test_spark_stop_is_an_error_naming_cell_in_n_and_line() -> None:
    report = lint_notebook(nb(PARAMS, "x = 1\n\nspark.stop()", "ctx.spark.stop()",
                              tags={0: ["parameters"]}, counts={1: 7}))
    assert report.codes() == ["NB101", "NB101"]
    first, second = report.issues
    assert (first.cell_index, first.execution_count, first.line) == (1, 7, 3)
    assert first.location == "cell 1 (In [7]), line 3"
    assert str(first).startswith("error NB101 cell 1 (In [7]), line 3: `spark.stop()`: stops the Spark")
    assert second.location == "cell 2, line 1"
    assert not report.ok


def test_unrelated_stop_calls_are_fine() -> None:
    report = lint_notebook(nb(PARAMS, "timer.stop()\nquery.stop()", tags={0: ["parameters"]}))
    assert report.issues == []


def test_sparksession_builder_is_an_error() -> None:
    code = ("from pyspark.sql import SparkSession\n"
            "spark = SparkSession.builder.master('local[1]').getOrCreate()")
    report = lint_notebook(nb(PARAMS, code, tags={0: ["parameters"]}))
    assert report.codes() == ["NB102"]
    assert report.issues[0].line == 2
    assert "ctx.spark" in report.issues[0].message


def test_absolute_path_into_the_warehouse_is_an_error_naming_the_dataset(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse"
    landing = tmp_path / "data" / "landing" / "flights"
    roots = [PathRoot(warehouse, None, "the warehouse"),
             PathRoot(warehouse / "flights", "flights", "dataset"),
             PathRoot(landing, "raw_flights", "dataset 'raw_flights'")]
    code = (f"df = spark.read.parquet('{warehouse}/flights/flight_date=2013-01-01')\n"
            f"raw = spark.read.csv(f'file://{landing}/date={{run_date}}')\n"
            "other = '/tmp/elsewhere/file.csv'\n"
            "url = 'https://example.org/warehouse/flights'")
    report = lint_notebook(nb(PARAMS, code, tags={0: ["parameters"]}), roots=roots, project_root=tmp_path)
    by_code = [(i.code, i.line) for i in report.issues]
    assert ("NB103", 1) in by_code and ("NB103", 2) in by_code
    assert not any(i.line in (3, 4) for i in report.issues)
    msg = next(i for i in report.issues if i.code == "NB103" and i.line == 1).message
    assert "ctx.read('flights')" in msg
    msg2 = next(i for i in report.issues if i.code == "NB103" and i.line == 2).message
    assert "dataset 'raw_flights'" in msg2 and "ctx.read('raw_flights')" in msg2


def test_relative_path_into_a_dataset_is_a_warning(tmp_path: Path) -> None:
    roots = [PathRoot(tmp_path / "warehouse", None, "the warehouse")]
    code = "p = 'warehouse/out'\nq = 'warehouse'\nr = 'a/b'"
    report = lint_notebook(nb(PARAMS, code, tags={0: ["parameters"]}), roots=roots, project_root=tmp_path)
    assert report.codes() == ["NB104"]
    assert report.issues[0].severity == "warning" and report.issues[0].line == 1


def test_raw_spark_reads_and_writes_are_warnings() -> None:
    code = ("df = spark.read.format('csv').option('header', 'true').load(path)\n"
            "df2 = ctx.spark.read.table('t')\n"
            "df.write.mode('overwrite').partitionBy('d').parquet(out)\n"
            "df2.write.saveAsTable('t2')\n"
            "ok = ctx.read('raw')\n"
            "pdf = pd.read_csv('x.csv')")
    report = lint_notebook(nb(PARAMS, code, tags={0: ["parameters"]}))
    assert [(i.code, i.line) for i in report.issues] == [("NB105", n) for n in (1, 2, 3, 4)]
    assert all(i.severity == "warning" for i in report.issues)
    assert "ctx.read(NAME)" in report.issues[0].message and "ctx.write" in report.issues[2].message


def test_magics_are_skipped_and_syntax_errors_reported() -> None:
    report = lint_notebook(nb(PARAMS, "%matplotlib inline\n!ls\nx = 1", "%%bash\nspark.stop()",
                              "def broken(:\n  pass", tags={0: ["parameters"]}))
    assert report.codes() == ["NB106"]
    assert report.issues[0].cell_index == 3 and report.issues[0].line == 1


def test_source_as_list_of_lines() -> None:
    report = lint_notebook(nb(PARAMS, ["x = 1\n", "spark.stop()\n"], tags={0: ["parameters"]}))
    assert [(i.code, i.line) for i in report.issues] == [("NB101", 2)]


def test_project_roots_cover_the_warehouse_and_file_datasets(tmp_path: Path) -> None:
    project = load(tmp_path, project="t", datasets={
        "raw": {"path": "data/raw", "format": "csv"}, "out": {"format": "parquet"},
        "db": {"format": "jdbc", "options": {"url": "jdbc:postgresql://127.0.0.1/x"}},
    })
    roots = project_roots(project)
    paths = {r.dataset: r.path for r in roots}
    assert paths[None] == (tmp_path / "warehouse").resolve()
    assert paths["raw"] == (tmp_path / "data" / "raw").resolve()
    assert paths["out"] == (tmp_path / "warehouse" / "out").resolve()
    assert "db" not in paths


@pytest.mark.parametrize("text", ["", "   ", "hello world/ok", "s3://bucket/warehouse/x"])
def test_non_paths_are_ignored(tmp_path: Path, text: str) -> None:
    roots = [PathRoot(tmp_path, None, "the warehouse")]
    report = lint_notebook(nb(PARAMS, f"v = {text!r}", tags={0: ["parameters"]}), roots=roots,
                           project_root=tmp_path)
    assert report.issues == []
