"""``nbpipe lineage`` (a group whose bare form shows the graph) and ``nbpipe docs``, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.catalog import catalog_project
from tests.support.cli import run_cli


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-lineage") / "proj"
    catalog_project(root)
    return root


def test_lineage_of_a_name_upstream(root: Path) -> None:
    done = run_cli(root, "lineage", "daily_stats", "--upstream")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "pipeline daily_stats",
        "  reads  airports  UNDECLARED: add airports to pipelines.daily_stats.reads in nbpipe.yaml",
        "  reads  flights",
        "  writes daily_stats",
        "pipeline ingest_flights",
        "  reads  raw_flights",
        "  writes flights",
        "1 undeclared read(s)/write(s): the DAG and freshness checks do not see them",
    ]


def test_lineage_json_and_help_beside_subcommands(root: Path) -> None:
    done = run_cli(root, "lineage", "--json")
    assert done.returncode == 0, done.stderr
    graph = json.loads(done.stdout)
    assert {"from": "dataset:airports", "to": "pipeline:daily_stats", "declared": False, "observed": True,
            "undeclared": True} in graph["edges"]
    helped = run_cli(root, "lineage", "--help")
    assert helped.returncode == 0 and "show" in helped.stdout and "Commands" in helped.stdout


def test_lineage_bad_input_exits_3_without_traceback(root: Path) -> None:
    done = run_cli(root, "lineage", "flight")
    assert done.returncode == 3
    assert "error: no dataset or pipeline 'flight' in the lineage graph (did you mean 'flights'?)" in done.stderr
    assert "Traceback" not in done.stderr


def test_docs_writes_the_site_and_refuses_a_file_as_out(root: Path) -> None:
    done = run_cli(root, "docs", "--out", "site")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("catalog: site/index.html (5 datasets, 3 pipelines)")
    assert (root / "site" / "datasets" / "flights.html").is_file()
    (root / "afile").write_text("x")
    bad = run_cli(root, "docs", "--out", "afile")
    assert bad.returncode == 2 and "error: --out afile is a file, not a directory" in bad.stderr
    assert "Traceback" not in bad.stderr
