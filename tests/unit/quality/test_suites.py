"""Suite files, result objects, pandas checkpoints and suggested suites (no Spark)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from nbpipe.core import events, records
from nbpipe.core.config import load_project
from nbpipe.errors import ConfigError, QualityGateError
from nbpipe.kernel.context import RunContext
from nbpipe.quality import (
    merge_suites,
    new_suite,
    profile_dataframe,
    run_checkpoint,
    save_suite,
    suggest_suite,
    validate_frame,
)
from nbpipe.quality import suites as S
from nbpipe.quality.native import register_extensions, to_gx_suite
from tests.support.projects import write_config


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write_config(tmp_path, project="q", pipelines={"p": {"notebook": "n.ipynb", "quality": "fail"},
                                                   "w": {"notebook": "n.ipynb", "quality": "warn"}})
    save_suite(tmp_path, new_suite("orders", [
        {"type": S.NOT_NULL, "kwargs": {"column": "id"}},
        {"type": S.UNIQUE, "kwargs": {"column": "id"}},
        {"type": S.IN_SET, "kwargs": {"column": "status", "value_set": ["new", "paid"]}},
        {"type": S.ROW_COUNT, "kwargs": {"min_value": 1, "max_value": 100}},
        {"type": S.FK_TYPE, "kwargs": {"column": "cust", "dataset": "customers", "dataset_column": "id"}},
    ]))
    return tmp_path


def ctx_for(root: Path, mode: str, pipeline: str | None, run: str = "r1") -> RunContext:
    return RunContext(load_project(project_dir=root), mode=mode, run_id=run,  # type: ignore[arg-type]
                      run_dir=root / "runs" / run, pipeline=pipeline, attempt=2, params={})


ORDERS = pd.DataFrame({"id": [1, 2, 2, 4], "status": ["new", "paid", "lost", "new"], "cust": ["c1", "c2", "c9", None]})
CUSTOMERS = pd.DataFrame({"id": ["c1", "c2"]})


def test_written_suite_loads_with_great_expectations_own_api(root: Path) -> None:
    import great_expectations as gx

    register_extensions()
    raw = json.loads(S.suite_path(root, "orders").read_text())
    suite = gx.ExpectationSuite(**raw)
    assert [e.expectation_type for e in suite.expectations] == [e["type"] for e in raw["expectations"]]
    assert suite.expectations[-1].dataset == "customers"  # nbpipe's FK type is a registered GX class
    assert to_gx_suite(S.load_suite(root, "orders")).name == "orders"


def test_missing_or_broken_suite_says_how_to_fix(root: Path) -> None:
    with pytest.raises(ConfigError) as err:
        S.load_suite(root, "ordres")
    assert "did you mean 'orders'" in str(err.value) and "nbpipe promote" in str(err.value)
    (root / "expectations" / "bad.json").write_text('{"name": "bad", "expectations": [{"kwargs": {}}]}')
    with pytest.raises(ConfigError, match=r"expectation #0: .* has no 'type'"):
        S.load_suite(root, "bad")
    with pytest.raises(Exception, match="not allowed"):
        S.suite_path(root, "../etc")


def test_where_condition_translation() -> None:
    assert S.where_condition("SELECT * FROM {batch} WHERE dep_delay > arr_delay") == "dep_delay > arr_delay"
    assert S.where_condition("select *  from {batch}\nwhere a is null;") == "a is null"
    assert S.where_condition("SELECT a FROM {batch} WHERE a > 1") is None
    assert S.where_condition("SELECT * FROM {batch} WHERE a IN (SELECT b FROM t)") is None


def test_prod_gate_raises_with_counts_and_emits_event(root: Path) -> None:
    ctx = ctx_for(root, "prod", "p")
    with pytest.raises(QualityGateError) as err:
        run_checkpoint(ctx, ORDERS, "orders", frames={"customers": CUSTOMERS})
    text = str(err.value)
    assert "pipeline 'p'" in text and "3 of 5 expectations failed" in text
    assert "expect_column_values_to_be_in_set(status): 1 unexpected (25%), e.g. 'lost'" in text
    assert err.value.exit_code == 13
    (check,) = events.of_kind(ctx.log.read(), events.CHECK)
    assert (check["suite"], check["dataset"], check["gate"], check["attempt"]) == ("orders", "orders", "fail", 2)
    assert check["statistics"]["unsuccessful"] == 3 and check["gate_passed"] is False
    unique = next(r for r in check["results"] if r["expectation_type"] == S.UNIQUE)
    assert unique["unexpected_count"] == 2 and unique["partial_unexpected_list"] == [2, 2]


def test_warn_gate_returns_and_quarantine_splits_rows(root: Path) -> None:
    res = run_checkpoint(ctx_for(root, "prod", "w"), ORDERS, "orders", frames={"customers": CUSTOMERS})
    assert not res.success and res.gate == "warn"
    ctx = ctx_for(root, "prod", "p", run="r2")
    res = run_checkpoint(ctx, ORDERS, "orders", quarantine=True, frames={"customers": CUSTOMERS})
    assert res.passing["id"].tolist() == [1, 4]  # a null FK is not a violation
    assert res.rejected_rows == 2
    (event,) = events.of_kind(ctx.log.read(), events.DATASET_REJECTED)
    assert event["dataset"] == "orders__rejected" and event["rows"] == 2
    # same layout as nbpipe.data.catalog.write_rejected: <staging>/<name>/nbpipe_run_id=<run>/part-*.parquet
    rejected = pd.read_parquet(Path(event["path"]) / event["partitions"][0])
    assert rejected["id"].tolist() == ["2", "2"]  # stored as text, like the catalog does
    rejected = rejected.set_index("status")["_nbpipe_reason"].to_dict()
    assert rejected == {"paid": S.UNIQUE, "lost": f"{S.UNIQUE},{S.IN_SET},{S.FK_TYPE}"}
    # every failure was row-level and quarantined, so the fail gate did not raise
    (check,) = events.of_kind(ctx.log.read(), events.CHECK)
    assert check["success"] is False and check["gate_passed"] is True


def test_quarantine_does_not_pass_a_table_level_failure(root: Path) -> None:
    """Rows were quarantined, but a row-count rule failed too: the gate fails, even if swallowed."""
    suite = {"name": "mixed", "expectations": [
        {"type": S.NOT_NULL, "kwargs": {"column": "status"}},
        {"type": S.ROW_COUNT, "kwargs": {"min_value": 100}}]}
    (root / "expectations" / "mixed.json").write_text(json.dumps(suite))
    ctx = ctx_for(root, "prod", "p", run="r3")
    frame = pd.DataFrame({"status": ["paid", None]})
    with pytest.raises(QualityGateError, match="1 of 2 expectations failed"):
        run_checkpoint(ctx, frame, "mixed", quarantine=True)
    (check,) = events.of_kind(ctx.log.read(), events.CHECK)
    assert check["rejected_rows"] == 1 and check["gate_passed"] is False
    # what the runner's gate and the run record conclude from the event alone
    assert records.gate_passed(check) is False and records.quality_status([check]) == "failed"
    older = {k: v for k, v in check.items() if k != "gate_passed"}  # an event from an earlier version
    assert records.gate_passed(older) is True


def test_explore_never_raises_and_results_render(root: Path) -> None:
    res = run_checkpoint(ctx_for(root, "explore", None), ORDERS, "orders", frames={"customers": CUSTOMERS})
    assert not res.success and res.gate == "explore"
    html = res._repr_html_()
    assert html.count("<tr>") == 6 and "&#x27;lost&#x27;" in html
    text = str(res)
    assert text.startswith("FAILED: suite 'orders'") and "[FAIL] expect_column_values_to_be_unique(id)" in text
    d = res.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["statistics"] == {"evaluated": 5, "successful": 2, "unsuccessful": 3, "success_percent": 40.0}


def test_nan_and_timestamps_are_json_safe(root: Path) -> None:
    df = pd.DataFrame({"id": [float("nan"), 1.0], "ts": pd.to_datetime(["2013-01-01", "2013-01-01"])})
    suite = new_suite("x", [{"type": S.NOT_NULL, "kwargs": {"column": "id"}},
                            {"type": S.UNIQUE, "kwargs": {"column": "ts"}}])
    results = validate_frame(df, suite)
    dumped = json.dumps([r.to_dict() for r in results], allow_nan=False)
    assert '"partial_unexpected_list": [null]' in dumped and "2013-01-01T00:00:00" in dumped


def test_profile_suggest_and_merge_keep_user_expectations() -> None:
    df = pd.DataFrame({"id": range(50), "carrier": ["AA", "UA"] * 25, "delay": [float(i % 9) for i in range(50)],
                       "note": [None if i % 10 == 0 else "x" for i in range(50)]})
    prof = profile_dataframe(df)
    assert prof["key_candidates"] == [["id"]] and prof["columns"]["note"]["null_fraction"] == 0.1
    suggested = suggest_suite("flights", prof, margin=0.1)
    assert all(e["meta"] == {"nbpipe": "suggested"} for e in suggested["expectations"])
    between = next(e for e in suggested["expectations"] if e["type"] == S.BETWEEN and e["kwargs"]["column"] == "delay")
    assert between["kwargs"]["min_value"] == pytest.approx(-0.8)
    assert between["kwargs"]["max_value"] == pytest.approx(8.8)
    assert all(r.success for r in validate_frame(df, suggested))

    user = {"type": S.BETWEEN, "kwargs": {"column": "delay", "min_value": 0, "max_value": 5}, "meta": {}}
    existing = dict(suggested, expectations=[user, *suggested["expectations"]])
    shrunk = df[df["delay"] < 3]
    merged = merge_suites(existing, suggest_suite("flights", profile_dataframe(shrunk)))
    assert merged["expectations"][0] == {**user, "severity": "critical"}
    delay_ranges = [e for e in merged["expectations"]
                    if e["type"] == S.BETWEEN and e["kwargs"]["column"] == "delay"]
    assert delay_ranges == [merged["expectations"][0]]  # the user's range wins; no suggested duplicate
    rows = next(e for e in merged["expectations"] if e["type"] == S.ROW_COUNT)
    assert rows["kwargs"]["max_value"] < 50  # suggested ones were refreshed from the new profile
