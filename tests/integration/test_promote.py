"""``nbpipe promote`` and ``nbpipe contracts diff`` end to end: real kernels, real Spark, real suites.

One module-scoped project is promoted four times with two explore runs: a fresh notebook (contracts
1.0, suite, pipeline entry), an additive change (minor bump; user expectations and comments
survive), then the change reverted, which removes a column: promote reuses the first run (the
newest explore run of that notebook code), refuses, and accepts with ``yes`` as a major bump.
``contracts diff`` then compares the contract with matching and with drifted data.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from nbpipe.core.config import load_project
from nbpipe.core.contracts import load_contract
from nbpipe.errors import ContractViolationError, NotebookError
from nbpipe.promote.configedit import ConfigEditor
from nbpipe.promote.drift import data_drift
from nbpipe.promote.model import PromoteResult
from nbpipe.promote.propose import observed_datasets
from nbpipe.promote.service import promote

pytestmark = [pytest.mark.spark, pytest.mark.slow]

FIXTURES = Path(__file__).resolve().parents[1] / "notebooks"
CONFIG = """\
# Test project for nbpipe promote: comments and key order must survive every promote.
project: promo   # the project's name

profiles:
  dev:
    spark: {master: "local[1]", conf: {spark.sql.shuffle.partitions: "2"}}
    warehouse: warehouse
    store: sqlite:///runs/nbpipe.db

datasets:
  # Landing zone: CSV drops, one per day.
  raw_orders: {path: data/landing/orders, format: csv, options: {header: "true"}}
  orders:
    format: parquet
    partition_by: [order_date]     # daily partitions
    primary_key: [order_id]

pipelines:
  # Written by hand; promote must leave it alone.
  report:
    notebook: notebooks/report.ipynb
    reads: [orders]
    quality: warn    # a hand-tuned gate
"""
LANDING = """\
order_id,status,amount,order_date
1,open,10.5,2024-01-01
2,shipped,20.0,2024-01-01
3,open,7.25,2024-01-02
4,cancelled,99.9,2024-01-02
5,shipped,15.0,2024-01-03
6,open,,2024-01-03
"""
USER_EXPECTATION = {"type": "expect_column_values_to_match_regex",
                    "kwargs": {"column": "status", "regex": "^[a-z]+$"}, "meta": {"owner": "me"}}


@dataclass
class Story:
    """What the module's promotes did, for the tests to examine."""

    root: Path
    spark: Any = None
    results: dict[str, PromoteResult] = field(default_factory=dict)
    contracts: dict[str, dict[str, Any]] = field(default_factory=dict)
    suites: dict[str, dict[str, Any]] = field(default_factory=dict)
    configs: dict[str, str] = field(default_factory=dict)
    refused: ContractViolationError | None = None
    refused_files: dict[str, bytes] = field(default_factory=dict)


def _use_notebook(root: Path, fixture: str) -> None:
    shutil.copy(FIXTURES / f"{fixture}.ipynb", root / "notebooks" / "orders.ipynb")


def _snapshot(story: Story, step: str) -> None:
    story.contracts[step] = yaml.safe_load((story.root / "contracts" / "orders.yaml").read_text())
    story.suites[step] = json.loads((story.root / "expectations" / "orders.json").read_text())
    story.configs[step] = (story.root / "nbpipe.yaml").read_text()


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes()
            for d in ("contracts", "expectations") for p in sorted((root / d).glob("*"))} | {
        "nbpipe.yaml": (root / "nbpipe.yaml").read_bytes()}


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    root = tmp_path_factory.mktemp("promote") / "project"
    (root / "notebooks").mkdir(parents=True)
    (root / "data" / "landing" / "orders" / "date=2024-01-01").mkdir(parents=True)
    (root / "data" / "landing" / "orders" / "date=2024-01-01" / "part-0000.csv").write_text(LANDING)
    (root / "nbpipe.yaml").write_text(CONFIG)
    story = Story(root)
    from nbpipe.spark.session import get_session

    spark = get_session(load_project(project_dir=root))  # promote's session, shared by the module
    story.spark = spark
    try:
        _use_notebook(root, "promote_orders")
        story.results["fresh"] = promote(load_project(project_dir=root), "notebooks/orders.ipynb")
        _snapshot(story, "fresh")

        suite_file = root / "expectations" / "orders.json"
        suite = json.loads(suite_file.read_text())
        suite["expectations"].append(USER_EXPECTATION)
        suite_file.write_text(json.dumps(suite, indent=2))
        _use_notebook(root, "promote_orders_added")
        story.results["added"] = promote(load_project(project_dir=root), "orders")
        _snapshot(story, "added")

        _use_notebook(root, "promote_orders")  # reverted: the column 'note' goes away again
        before = _files(root)
        try:
            promote(load_project(project_dir=root), "orders", reuse_run="latest")
        except ContractViolationError as exc:
            story.refused = exc
        story.refused_files = {k: v for k, v in _files(root).items() if before.get(k) != v}
        story.results["accepted"] = promote(load_project(project_dir=root), "orders", yes=True,
                                            reuse_run="latest")
        _snapshot(story, "accepted")
        yield story
    finally:
        spark.stop()


def test_fresh_promote_writes_contract_1_0_with_keys_from_the_dataset_config(story: Story) -> None:
    contract = story.contracts["fresh"]
    assert contract["version"] == "1.0"
    cols = {c["name"]: c for c in contract["columns"]}
    assert list(cols) == ["order_id", "status", "amount", "order_date", "batch"]
    assert [cols[n]["type"] for n in ("order_id", "amount", "order_date")] == ["int", "double", "date"]
    assert cols["order_id"]["nullable"] is False, "primary-key columns are non-null"
    assert contract["partition_by"] == ["order_date"] and contract["primary_key"] == ["order_id"]
    raw = load_contract(story.root / "contracts" / "raw_orders.yaml")
    assert raw.version == "1.0" and {"order_id", "status", "amount", "order_date"} <= set(raw.names)
    result = story.results["fresh"]
    assert {(c.dataset, c.status) for c in result.contracts} == {("raw_orders", "created"),
                                                                 ("orders", "created")}


def test_fresh_promote_suggests_a_suite_from_the_explored_data(story: Story) -> None:
    exps = story.suites["fresh"]["expectations"]
    by_type: dict[str, list[dict[str, Any]]] = {}
    for e in exps:
        by_type.setdefault(e["type"], []).append(e["kwargs"])
    assert all(e["meta"] == {"nbpipe": "suggested"} for e in exps)
    assert {"column": "order_id"} in by_type["expect_column_values_to_not_be_null"]
    assert {"column": "amount"} not in by_type["expect_column_values_to_not_be_null"], "amount had a null"
    assert {"column": "order_id"} in by_type["expect_column_values_to_be_unique"]
    status_set = next(k for k in by_type["expect_column_values_to_be_in_set"] if k["column"] == "status")
    assert status_set["value_set"] == ["cancelled", "open", "shipped"]
    amount = next(k for k in by_type["expect_column_values_to_be_between"] if k["column"] == "amount")
    assert amount["min_value"] < 7.25 and amount["max_value"] > 99.9, "the observed range is widened"
    rows = by_type["expect_table_row_count_to_be_between"][0]
    assert rows["min_value"] <= 6 <= rows["max_value"]
    assert (story.root / "expectations" / "raw_orders.json").is_file(), "read datasets get a suite too"


def test_fresh_promote_writes_the_pipeline_entry_with_typed_params(story: Story) -> None:
    entry = yaml.safe_load(story.configs["fresh"])["pipelines"]["orders"]
    assert entry["notebook"] == "notebooks/orders.ipynb"
    assert entry["params"] == {"run_date": {"type": "date"}, "limit": {"type": "int"},
                               "ratio": {"type": "float"}, "verbose": {"type": "bool"}, "region": {}}
    assert entry["reads"] == ["raw_orders"] and entry["writes"] == ["orders"]
    assert any("parameter 'region'" in w for w in story.results["fresh"].warnings)
    project = load_project(project_dir=story.root)
    assert project.pipeline("orders").params["run_date"].type == "date"
    result = story.results["fresh"]
    assert "+  orders:" in result.config_diff
    assert "+    notebook: notebooks/orders.ipynb" in result.config_diff
    assert not result.reused and (story.root / "runs" / "orders" / result.run_id / "events.jsonl").is_file()


def test_user_comments_and_other_keys_survive_every_promote(story: Story) -> None:
    for step in ("fresh", "added", "accepted"):
        text = story.configs[step]
        for line in CONFIG.splitlines():
            if "#" in line:
                assert line in text, f"{step}: lost {line!r}"
        assert text.startswith(CONFIG.split("pipelines:")[0]), "nothing before 'pipelines:' changed"
        report = yaml.safe_load(text)["pipelines"]["report"]
        assert report == {"notebook": "notebooks/report.ipynb", "reads": ["orders"], "quality": "warn"}


def test_additive_change_bumps_the_minor_version(story: Story) -> None:
    contract = story.contracts["added"]
    assert contract["version"] == "1.1"
    assert contract["columns"][-1] == {"name": "note", "type": "string", "nullable": True}
    change = next(c for c in story.results["added"].contracts if c.dataset == "orders")
    assert change.status == "updated" and change.diff is not None and not change.diff.breaking
    rendered = story.results["added"].render()
    assert "contract orders 1.0 -> 1.1 (additive)" in rendered and "+ note: string" in rendered
    raw = next(c for c in story.results["added"].contracts if c.dataset == "raw_orders")
    assert raw.status == "unchanged"


def _has_user_expectation(exps: list[dict[str, Any]]) -> bool:
    """The user's expectation, unchanged (GX's default ``severity`` may be added when the file is saved)."""
    return any({k: e.get(k) for k in USER_EXPECTATION} == USER_EXPECTATION for e in exps)


def test_user_written_expectations_survive_re_promote(story: Story) -> None:
    exps = story.suites["added"]["expectations"]
    assert _has_user_expectation(exps)
    suite_change = next(s for s in story.results["added"].suites if s.dataset == "orders")
    assert "expect_column_values_to_match_regex(status)" in suite_change.kept_user
    assert sum(1 for e in exps if e["type"] == "expect_column_values_to_be_unique") == 1, "no duplicates"
    assert _has_user_expectation(story.suites["accepted"]["expectations"])


def test_removed_column_is_refused_without_yes_and_nothing_is_written(story: Story) -> None:
    exc = story.refused
    assert exc is not None, "promote must refuse a removed column"
    assert exc.exit_code == 7
    assert "dataset 'orders' (1.1 -> 2.0)" in exc.message
    assert "column note (string) removed: readers that select it will fail" in exc.message
    assert exc.hint is not None and "--yes" in exc.hint and "--reuse" in exc.hint
    assert story.refused_files == {}, "a refused promote writes nothing"


def test_removed_column_is_accepted_with_yes_as_a_major_bump(story: Story) -> None:
    contract = story.contracts["accepted"]
    assert contract["version"] == "2.0"
    assert [c["name"] for c in contract["columns"]] == ["order_id", "status", "amount", "order_date", "batch"]
    result = story.results["accepted"]
    assert result.reused and result.run_id == story.results["fresh"].run_id, (
        "--reuse latest picks the newest explore run of the current notebook code")
    assert story.suites["accepted"] == story.suites["added"], "same data, same suite"
    runs = [p for p in (story.root / "runs" / "orders").iterdir() if p.is_dir()]
    assert len(runs) == 2, "two explore runs in all"


def test_observed_datasets_come_from_the_last_attempt(story: Story) -> None:
    run_dir = story.root / "runs" / "orders" / story.results["fresh"].run_id
    from nbpipe.core.events import read_events

    observed = observed_datasets(list(read_events(run_dir / "events.jsonl")))
    assert [(o.dataset, o.role) for o in observed] == [("raw_orders", "read"), ("orders", "write")]
    assert observed[1].schema and observed[1].schema[0]["name"] == "order_id"


def test_contracts_diff_matches_then_reports_drift(story: Story) -> None:
    spark = story.spark
    project = load_project(project_dir=story.root)
    location = str(story.root / "warehouse" / "orders")
    good = spark.createDataFrame(
        [(1, "open", 10.0, "2024-01-01"), (2, None, 5.0, "2024-01-02")],
        "order_id int, status string, amount double, d string",
    ).selectExpr("order_id", "status", "amount", "cast(d as date) as order_date", "'b' as batch")
    good.write.mode("overwrite").partitionBy("order_date").parquet(location)
    drift = data_drift(project, "orders")
    assert not drift.changed and drift.rows == 2
    assert "matches" in drift.render()
    cli = CliRunner().invoke(_app(), ["contracts", "diff", "orders", "--project", str(story.root)])
    assert cli.exit_code == 0, cli.output

    bad = spark.createDataFrame(
        [(None, "ten", "2024-01-01", 1), (2, "five", "2024-01-02", 2)],
        "order_id int, amount string, d string, extra int",
    ).selectExpr("order_id", "amount", "cast(d as date) as order_date", "extra")
    bad.write.mode("overwrite").partitionBy("order_date").parquet(location)
    drift = data_drift(project, "orders")
    assert drift.breaking
    assert {c.name for c in drift.schema.missing} == {"status", "batch"}
    assert [(r.name, r.new, r.old) for r in drift.schema.retyped] == [("amount", "double", "string")]
    assert [f["name"] for f in drift.schema.extra] == ["extra"]
    assert drift.null_violations == {"order_id": 1}
    cli = CliRunner().invoke(_app(), ["contracts", "diff", "orders", "--project", str(story.root)])
    assert cli.exit_code == 7
    assert "amount: contract double, data string" in cli.output and "order_id: 1 null value(s)" in cli.output


def test_lint_errors_block_promote_before_any_run(story: Story, tmp_path: Path) -> None:
    bad = json.loads((FIXTURES / "promote_bad.ipynb").read_text())
    warehouse = str((story.root / "warehouse").resolve())
    text = json.dumps(bad).replace("/WAREHOUSE", warehouse)
    (story.root / "notebooks" / "bad.ipynb").write_text(text)
    runs_before = sorted((story.root / "runs").iterdir())
    with pytest.raises(NotebookError) as info:
        promote(load_project(project_dir=story.root), str(story.root / "notebooks" / "bad.ipynb"))
    message = info.value.message
    assert "NB101" in message and "NB102" in message and "NB103" in message and "NB100" in message
    assert "spark.stop()" in message and "cell 3, line 1" in message
    assert sorted((story.root / "runs").iterdir()) == runs_before, "no explore run was started"
    assert not (story.root / "contracts" / "bad.yaml").exists()
    cli = CliRunner().invoke(_app(), ["promote", "notebooks/bad.ipynb", "--project", str(story.root)])
    assert cli.exit_code == 4


def test_cli_promote_reuses_the_latest_run_and_prints_json(story: Story) -> None:
    cli = CliRunner().invoke(_app(), ["promote", "orders", "--reuse", "latest", "--json",
                                      "--project", str(story.root)])
    assert cli.exit_code == 0, cli.output
    out = json.loads(cli.stdout)
    assert out["reused"] and out["run_id"] == story.results["fresh"].run_id
    assert {c["dataset"]: c["status"] for c in out["contracts"]} == {"raw_orders": "unchanged",
                                                                     "orders": "unchanged"}
    assert out["config_diff"] == "" and out["written"] == [], "promoting the same run again changes nothing"


def test_unknown_target_says_what_exists(story: Story) -> None:
    with pytest.raises(NotebookError) as info:
        promote(load_project(project_dir=story.root), "ordres")
    assert "did you mean 'orders'" in info.value.message


def test_config_editor_round_trips_block_lists_and_trailing_comments(tmp_path: Path) -> None:
    path = tmp_path / "nbpipe.yaml"
    path.write_text("project: x  # name\npipelines:\n  p:\n    notebook: a.ipynb\n    writes:\n"
                    "    - a   # the a\n\n# closing comment\n")
    editor = ConfigEditor(path)
    editor.set_pipeline("p", notebook="a.ipynb", params={}, reads=[], writes=["a", "c"])
    editor.set_pipeline("q", notebook="q.ipynb", params={"n": {"type": "int"}}, reads=["a"], writes=["z"])
    assert editor.save()
    text = path.read_text()
    assert "    - a   # the a\n    - c\n" in text
    assert text.endswith("  q:\n    notebook: q.ipynb\n    params: {n: {type: int}}\n    reads: [a]\n"
                         "    writes: [z]\n\n# closing comment\n")
    assert not ConfigEditor(path).changed


def _app() -> Any:
    from nbpipe.cli import app

    return app


def test_reuse_of_a_run_that_is_not_a_succeeded_explore_run_is_a_usage_error(story: Story) -> None:
    from nbpipe.errors import ParameterError
    from nbpipe.run.store import RunStore

    project = load_project(project_dir=story.root)
    store = RunStore(project.store_url)
    try:
        store.start_run("20990101T000000Z-prod0001", "orders", started_at="2099-01-01T00:00:00Z", mode="prod",
                        profile="dev", params={}, run_dir=str(story.root / "runs" / "orders" / "none"))
    finally:
        store.close()
    with pytest.raises(ParameterError) as caught:
        promote(project, "orders", reuse_run="20990101T000000Z-prod0001")
    assert caught.value.exit_code == 3
    assert "is a running prod run of 'orders'" in caught.value.message
    assert "omit --reuse" in (caught.value.hint or "")
