"""Spark fast path == GX's Spark engine, foreign keys, quarantine, gates and profiles on real Spark."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbpipe.core import events
from nbpipe.core.config import load_project
from nbpipe.errors import QualityGateError
from nbpipe.kernel.context import RunContext
from nbpipe.quality import fast_spark, native, new_suite, profile_dataframe, run_checkpoint, save_suite, validate_frame
from nbpipe.quality import suites as S
from tests.support.projects import write_config
from tests.unit.quality import kwarg_cases

pytestmark = [pytest.mark.spark, pytest.mark.slow]

TEXT = ["a", "ab", "é", "日本", "", "b", "ñandú"]
NUMS = [0.0, 1.0, 2.0, 2.0, -1.0, float("nan"), None]
SCHEMA = "num double, n2 double, s string"


@st.composite
def rows(draw: Any) -> list[tuple[Any, ...]]:
    n = draw(st.integers(0, 10))
    return [(draw(st.sampled_from(NUMS)), draw(st.sampled_from(NUMS)), draw(st.sampled_from([*TEXT, None])))
            for _ in range(n)]


@st.composite
def expectation_lists(draw: Any) -> list[dict[str, Any]]:
    mostly = draw(st.sampled_from([None, 0.5, 1.0]))

    def kw(**k: Any) -> dict[str, Any]:
        return {**k, "mostly": mostly} if mostly is not None else k

    lo = draw(st.integers(-1, 2))
    hi = lo + draw(st.integers(0, 3))
    return [
        {"type": S.NOT_NULL, "kwargs": kw(column=draw(st.sampled_from(["num", "s"])))},
        {"type": S.UNIQUE, "kwargs": kw(column=draw(st.sampled_from(["num", "s"])))},
        {"type": S.COMPOUND_UNIQUE, "kwargs": kw(column_list=["num", "s"], ignore_row_if=draw(
            st.sampled_from(["all_values_are_missing", "any_value_is_missing", "never"])))},
        {"type": S.BETWEEN, "kwargs": kw(column="num", min_value=lo, max_value=hi,
                                         strict_min=draw(st.booleans()), strict_max=draw(st.booleans()))},
        {"type": S.IN_SET, "kwargs": kw(column="s", value_set=draw(st.lists(st.sampled_from(TEXT), max_size=4)))},
        {"type": S.REGEX, "kwargs": kw(column="s", regex=draw(st.sampled_from(["^a", "b$", "é|日", "^$"])))},
        {"type": S.LENGTHS, "kwargs": kw(column="s", min_value=draw(st.integers(0, 1)),
                                         max_value=draw(st.integers(1, 3)))},
        {"type": S.PAIR_GREATER, "kwargs": kw(column_A="num", column_B="n2", or_equal=draw(st.booleans()),
                                              ignore_row_if=draw(st.sampled_from(
                                                  ["both_values_are_missing", "either_value_is_missing",
                                                   "neither"])))},
        {"type": S.UNEXPECTED_ROWS, "kwargs": {"unexpected_rows_query": "SELECT * FROM {batch} WHERE num > n2"}},
        {"type": S.ROW_COUNT, "kwargs": {"min_value": lo + 2, "max_value": hi + 5}},
    ]


def assert_same(fast: Any, gx: Any, label: str) -> None:
    assert fast is not None and fast.engine == "fast", label
    assert gx.exception is None, f"{label}: GX raised {gx.exception}"
    assert fast.success == gx.success, label
    assert fast.observed_value == gx.observed_value, label
    if gx.unexpected_count is not None:
        assert fast.unexpected_count == gx.unexpected_count, label
        if gx.unexpected_percent is None:
            assert fast.unexpected_percent is None, label
        else:
            assert math.isclose(fast.unexpected_percent, gx.unexpected_percent, rel_tol=1e-9), label


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(data=rows(), exps=expectation_lists())
def test_spark_fast_path_equals_gx(spark: Any, data: list[tuple[Any, ...]], exps: list[dict[str, Any]]) -> None:
    df = spark.createDataFrame(data, SCHEMA)
    fast = fast_spark.validate(df, exps)
    gx = native.validate(df, exps)
    for exp, f, g in zip(exps, fast, gx):
        assert_same(f, g, f"{exp}\n{data!r}")


def test_nan_is_a_value_not_missing_on_spark(spark: Any) -> None:
    df = spark.createDataFrame([(float("nan"),), (1.0,), (None,), (float("nan"),)], "num double")
    exps = [{"type": S.NOT_NULL, "kwargs": {"column": "num"}}, {"type": S.UNIQUE, "kwargs": {"column": "num"}},
            {"type": S.BETWEEN, "kwargs": {"column": "num", "min_value": 0, "max_value": 5}}]
    fast = fast_spark.validate(df, exps)
    gx = native.validate(df, exps)
    assert [(r.unexpected_count, r.missing_count) for r in fast] == [(1, None), (2, 1), (2, 1)]
    for exp, f, g in zip(exps, fast, gx):
        assert_same(f, g, exp["type"])
    assert all(math.isnan(v) for v in fast[1].partial_unexpected_list)


def test_what_spark_refuses_fails_that_expectation_alone(spark: Any) -> None:
    df = spark.createDataFrame([(1.0, "a"), (2.0, "ab"), (None, None), (5.0, "abc")], "num double, s string")
    exps = [
        {"type": S.NOT_NULL, "kwargs": {"column": "num"}},
        {"type": S.REGEX, "kwargs": {"column": "s", "regex": "["}},
        {"type": S.REGEX, "kwargs": {"column": "s", "regex": "(?P<x>a)"}},  # Python accepts it, Java does not
        {"type": S.UNEXPECTED_ROWS, "kwargs": {"unexpected_rows_query":
                                               "SELECT * FROM {batch} WHERE num > 1\nLIMIT 5"}},
        {"type": S.BETWEEN, "kwargs": {"column": "num", "min_value": 2**64}},
        {"type": S.BETWEEN, "kwargs": {"column": "num", "max_value": 4, "strict_max": "false"}},
        {"type": S.LENGTHS, "kwargs": {"column": "s", "max_value": 2**64}},
        # analyses fine, fails while running: only evaluating each rule alone can tell which one broke
        {"type": S.UNEXPECTED_ROWS, "kwargs": {"unexpected_rows_query": "SELECT * FROM {batch} WHERE "
                                               "raise_error(concat('boom-', coalesce(s, '?'))) IS NULL"}},
        {"type": S.UNIQUE, "kwargs": {"column": "s"}},
    ]
    ours = validate_frame(df, new_suite("refusals", exps))
    gx = native.validate(df, exps)
    for exp, mine, theirs in zip(exps, ours, gx, strict=True):
        kwarg_cases.assert_agree(mine, theirs, str(exp))
    assert [r.engine for r in ours] == ["fast", "fast", "fast", "native", "fast", "fast", "fast", "fast", "fast"]
    assert (ours[0].success, ours[0].unexpected_count) == (False, 1)
    assert "Unclosed character class" in (ours[1].exception or "") and "regex" in (ours[1].exception or "")
    assert "Unknown inline modifier" in (ours[2].exception or "")
    assert (ours[3].success, ours[3].observed_value) == (False, 2)
    assert (ours[4].success, ours[4].unexpected_count) == (False, 3)
    assert (ours[5].success, ours[5].unexpected_count) == (False, 1)
    assert "Spark could not evaluate it" in (ours[7].exception or "") and "boom-" in (ours[7].exception or "")
    assert (ours[8].success, ours[8].unexpected_count) == (True, 0)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=rows(), exps=kwarg_cases.expectations(max_size=5))
def test_invalid_and_edge_case_kwargs_agree_with_gx_on_spark(spark: Any, data: list[tuple[Any, ...]],
                                                              exps: list[dict[str, Any]]) -> None:
    df = spark.createDataFrame(data, SCHEMA)
    ours = validate_frame(df, new_suite("h", exps))
    for exp, mine, theirs in zip(exps, ours, native.validate(df, exps), strict=True):
        kwarg_cases.assert_agree(mine, theirs, f"{exp}\n{data!r}")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write_config(tmp_path, project="q", pipelines={
        "strict": {"notebook": "n.ipynb", "quality": "fail"},
        "lenient": {"notebook": "n.ipynb", "quality": "warn"}})
    save_suite(tmp_path, S.new_suite("flights", [
        {"type": S.NOT_NULL, "kwargs": {"column": "carrier"}},
        {"type": S.FK_TYPE, "kwargs": {"column": "carrier", "dataset": "airlines", "dataset_column": "code"}},
        {"type": S.UNIQUE, "kwargs": {"column": "id"}},
        {"type": S.BETWEEN, "kwargs": {"column": "delay", "min_value": -60, "max_value": 600}},
        {"type": "expect_column_max_to_be_between", "kwargs": {"column": "delay", "min_value": 0,
                                                               "max_value": 10000}},
    ]))
    return tmp_path


def _ctx(root: Path, mode: str, pipeline: str | None) -> RunContext:
    run_dir = root / "runs" / (pipeline or "_explore") / f"r-{mode}"
    return RunContext(load_project(project_dir=root), mode=mode, run_id=f"r-{mode}",  # type: ignore[arg-type]
                      run_dir=run_dir, pipeline=pipeline, attempt=1, params={})


FLIGHTS = [(1, "AA", 5.0), (2, "UA", -3.0), (3, "ZZ", 12.0), (3, None, 900.0), (5, "AA", 1.0)]


def test_checkpoint_prod_gate_quarantine_and_events(spark: Any, project: Path) -> None:
    df = spark.createDataFrame(FLIGHTS, "id long, carrier string, delay double")
    airlines = spark.createDataFrame([("AA",), ("UA",), ("DL",)], "code string")

    ctx = _ctx(project, "prod", "strict")
    with pytest.raises(QualityGateError) as err:
        run_checkpoint(ctx, df, "flights", frames={"airlines": airlines})
    message = str(err.value)
    assert "suite 'flights'" in message and "expect_column_values_to_be_in_dataset(carrier): 1 unexpected" in message
    assert "expect_column_values_to_be_unique(id): 2 unexpected" in message
    assert "quality: warn" in message and "expectations/flights.json" in message
    check = events.of_kind(ctx.log.read(), events.CHECK)[0]
    assert check["gate"] == "fail" and check["success"] is False and check["attempt"] == 1
    assert check["statistics"] == {"evaluated": 5, "successful": 1, "unsuccessful": 4, "success_percent": 20.0}
    by_type = {r["expectation_type"]: r for r in check["results"]}
    assert by_type["expect_column_max_to_be_between"]["engine"] == "native"
    assert by_type["expect_column_max_to_be_between"]["observed_value"] == 900.0
    json.dumps(check, allow_nan=False)

    q = _ctx(project, "prod", "strict")
    result = run_checkpoint(q, df, "flights", quarantine=True, dataset="flights",
                            frames={"airlines": airlines})
    # both id=3 rows fail (duplicate id; one also has a null carrier and a 900 delay, the other 'ZZ')
    assert result.rejected_rows == 2
    assert sorted(r.id for r in result.passing.collect()) == [1, 2, 5]
    rejected_event = events.of_kind(q.log.read(), events.DATASET_REJECTED)
    assert rejected_event and rejected_event[0]["dataset"] == "flights__rejected" and rejected_event[0]["rows"] == 2
    rejected = {r.carrier: r._nbpipe_reason for r in spark.read.parquet(rejected_event[0]["path"]).collect()}
    assert set(rejected[None].split(",")) == {S.NOT_NULL, S.UNIQUE, S.BETWEEN}
    assert set(rejected["ZZ"].split(",")) == {S.FK_TYPE, S.UNIQUE}
    # once the bad rows are quarantined only the dataset-level expectation can still fail; it passes
    assert events.of_kind(q.log.read(), events.CHECK)[-1]["rejected_rows"] == 2

    warn = _ctx(project, "prod", "lenient")
    res = run_checkpoint(warn, df, "flights", frames={"airlines": airlines})
    assert not res.success and events.of_kind(warn.log.read(), events.CHECK)[0]["gate"] == "warn"


def test_checkpoint_explore_never_raises_and_renders(spark: Any, project: Path) -> None:
    df = spark.createDataFrame(FLIGHTS, "id long, carrier string, delay double")
    ctx = _ctx(project, "explore", None)
    res = run_checkpoint(ctx, df, "flights", frames={"airlines": spark.createDataFrame([("AA",)], "code string")})
    assert not res.success
    html = res._repr_html_()
    assert "✘ failed" in html and "expect_column_values_to_be_unique" in html and "900" in html
    assert "FAILED: suite 'flights'" in str(res)
    missing = run_checkpoint(ctx, df, "flihgts")
    assert missing.results == [] and "did you mean 'flights'" in missing.notes[0]


def test_profile_and_suggested_suite_pass_on_their_own_data(spark: Any, tmp_path: Path) -> None:
    from nbpipe.quality import suggest_suite, validate_frame

    df = spark.createDataFrame(
        [(i, ["AA", "UA", "DL"][i % 3], float(i % 7), None if i % 5 == 0 else "x") for i in range(60)],
        "id long, carrier string, delay double, note string")
    prof = profile_dataframe(df)
    assert prof["rows"] == 60 and prof["key_candidates"] == [["id"]]
    assert prof["columns"]["carrier"]["distinct"] == 3 and prof["columns"]["note"]["nulls"] == 12
    suite = suggest_suite("flights", prof)
    types = [(e["type"], e["kwargs"].get("column")) for e in suite["expectations"]]
    assert (S.UNIQUE, "id") in types and (S.IN_SET, "carrier") in types and (S.NOT_NULL, "note") not in types
    results = validate_frame(df, suite)
    assert all(r.success for r in results), [str(r) for r in results if not r.success]
