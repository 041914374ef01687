"""Expectations are built through great-expectations' own model: the fast path accepts what GX accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbpipe.core import events
from nbpipe.errors import QualityGateError
from nbpipe.quality import CheckResult, gx_model, native, new_suite, run_checkpoint, save_suite, validate_frame
from nbpipe.quality import suites as S
from tests.support.projects import write_config
from tests.unit.quality.kwarg_cases import assert_agree, expectations
from tests.unit.quality.test_suites import ctx_for

#: The issue's suite: each expectation is refused by GX, and each passed on the fast path.
REFUSED = [
    {"type": S.BETWEEN, "kwargs": {"column": "x", "min_value": 0, "max_vlaue": 1}},
    {"type": S.IN_SET, "kwargs": {"column": "x"}},
    {"type": S.NOT_NULL, "kwargs": {"column": "x", "mostly": -0.1}},
    {"type": S.COMPOUND_UNIQUE, "kwargs": {"column_list": ["x"]}},
]
X = pd.DataFrame({"x": [1.0, 2.0]})


def test_a_suite_gx_refuses_fails_every_expectation_with_the_kwarg_and_gx_reason() -> None:
    results = validate_frame(X, new_suite("typos", REFUSED))
    assert [(r.success, r.invalid) for r in results] == [(False, True)] * 4
    messages = [r.exception or "" for r in results]
    assert "invalid expectation expect_column_values_to_be_between(x)" in messages[0]
    assert "unknown kwarg 'max_vlaue': extra fields not permitted (did you mean 'max_value'?)" in messages[0]
    assert "missing kwarg 'value_set': field required" in messages[1]
    assert "kwarg 'mostly' = -0.1: ensure this value is greater than or equal to 0.0" in messages[2]
    assert "kwarg 'column_list' = ['x']: column_list must contain at least two columns" in messages[3]
    # the results show the kwargs as written, and GX itself says the same
    assert results[0].kwargs == REFUSED[0]["kwargs"]
    assert [r.exception for r in native.validate(X, REFUSED)] == messages
    shown = CheckResult("typos", results)
    assert "✘ invalid" in shown._repr_html_() and "[BAD ] expect_column_values_to_be_in_set(x): invalid:" in str(shown)


@pytest.mark.parametrize("mostly", [None, 1.5, "abc"])
def test_mostly_outside_zero_one_or_null_is_refused(mostly: Any) -> None:
    for exp in ({"type": S.UNIQUE, "kwargs": {"column": "x", "mostly": mostly}},
                {"type": S.FK_TYPE, "kwargs": {"column": "x", "dataset": "d", "mostly": mostly}}):
        (res,) = validate_frame(X, new_suite("m", [exp]), lookup={"d": X}.__getitem__)
        assert res.invalid and not res.success and "kwarg 'mostly'" in (res.exception or "")


def test_an_unknown_expectation_type_is_refused_with_the_closest_name() -> None:
    (res,) = validate_frame(X, new_suite("t", [{"type": "expect_colum_values_to_be_unique",
                                                 "kwargs": {"column": "x"}}]))
    assert res.invalid and "did you mean 'expect_column_values_to_be_unique'" in (res.exception or "")


def test_fast_path_computes_on_the_values_gx_coerces() -> None:
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0], "s": ["a", "bb", "ccc"]})
    exps = [
        {"type": S.BETWEEN, "kwargs": {"column": "x", "min_value": 1, "strict_min": "false"}},
        {"type": S.BETWEEN, "kwargs": {"column": "x", "min_value": "1", "max_value": "3", "strict_max": "true"}},
        {"type": S.BETWEEN, "kwargs": {"column": "x", "max_value": 2, "mostly": "0.5"}},
        {"type": S.LENGTHS, "kwargs": {"column": "s", "min_value": "2", "max_value": 2.9}},
        {"type": S.ROW_COUNT, "kwargs": {"min_value": "3"}},
    ]
    ours = validate_frame(df, new_suite("c", exps))
    assert [r.engine for r in ours] == ["fast"] * 5
    assert [(r.success, r.unexpected_count) for r in ours] == [
        (True, 0), (False, 1), (True, 1), (False, 2), (True, None)]
    for exp, mine, gx in zip(exps, ours, native.validate(df, exps)):
        assert_agree(mine, gx, str(exp))


def test_each_expectation_is_built_once_per_suite_load() -> None:
    prepared = gx_model.prepare(new_suite("p", [*REFUSED, {"type": S.BETWEEN, "kwargs": {
        "column": "x", "min_value": "0", "strict_min": "false"}}]))
    assert sorted(prepared.errors) == [0, 1, 2, 3]
    assert [e["type"] for e in prepared.effective[:4]] == [gx_model.INVALID_TYPE] * 4
    assert prepared.effective[4]["kwargs"] == {"column": "x", "min_value": 0.0}  # GX's coercion, defaults dropped
    assert prepared.expectations[4]["kwargs"]["strict_min"] == "false"  # as written, for the record


def test_prod_gate_fails_on_an_invalid_expectation_and_the_record_says_so(tmp_path: Path) -> None:
    write_config(tmp_path, project="q", pipelines={"p": {"notebook": "n.ipynb", "quality": "fail"}})
    save_suite(tmp_path, new_suite("x", [{"type": S.NOT_NULL, "kwargs": {"column": "x"}}, REFUSED[0]]))
    ctx = ctx_for(tmp_path, "prod", "p")
    with pytest.raises(QualityGateError) as err:
        run_checkpoint(ctx, X, "x", quarantine=True)
    text = str(err.value)
    assert "1 of 2 expectations failed (1 invalid: great-expectations refuses them)" in text
    assert "expect_column_values_to_be_between(x): invalid: invalid expectation" in text and "'max_vlaue'" in text
    assert "expectations/x.json" in err.value.hint
    (check,) = events.of_kind(ctx.log.read(), events.CHECK)
    bad = check["results"][1]
    assert (bad["success"], bad["invalid"], bad["kwargs"]) == (False, True, REFUSED[0]["kwargs"])
    assert "extra fields not permitted" in bad["exception"] and check["gate_passed"] is False
    assert check["results"][0]["invalid"] is False and check["rejected_rows"] == 0


def test_the_worked_examples_suites_are_all_valid_for_gx() -> None:
    root = Path(__file__).resolve().parents[3]
    names = S.available_suites(root)
    assert "flights" in names
    for name in names:
        assert gx_model.prepare(S.load_suite(root, name)).errors == {}, name


def test_where_condition_with_a_newline_before_limit_goes_to_gx() -> None:
    assert S.where_condition("SELECT * FROM {batch} WHERE x > 1\nLIMIT 5") is None
    assert S.where_condition("SELECT * FROM {batch} WHERE x > 1\tORDER\nBY x") is None
    assert S.where_condition("SELECT * FROM {batch} WHERE limited > 1") == "limited > 1"


NUMS = [0.0, 1.0, 2.0, 2.0, 3.5, -1.0, float("nan"), None]
TEXT = ["a", "ab", "é", "日本", "", "b", None]


@st.composite
def frames(draw: Any) -> pd.DataFrame:
    n = draw(st.integers(0, 8))
    return pd.DataFrame({"num": pd.Series([draw(st.sampled_from(NUMS)) for _ in range(n)], dtype=float),
                         "n2": pd.Series([draw(st.sampled_from(NUMS)) for _ in range(n)], dtype=float),
                         "s": pd.Series([draw(st.sampled_from(TEXT)) for _ in range(n)], dtype=object)})


# pandas warns about a regex with groups (pytest makes warnings errors, and GX reports it as an
# exception then); in a notebook both simply compute, which is what is compared here.
@pytest.mark.filterwarnings("ignore:This pattern is interpreted as a regular expression:UserWarning")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(df=frames(), exps=expectations())
def test_invalid_and_edge_case_kwargs_agree_with_gx(df: pd.DataFrame, exps: list[dict[str, Any]]) -> None:
    ours = validate_frame(df, new_suite("h", exps))
    for exp, mine, gx in zip(exps, ours, native.validate(df, exps), strict=True):
        assert_agree(mine, gx, f"{exp}\n{df!r}")
