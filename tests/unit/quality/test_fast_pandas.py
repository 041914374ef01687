"""The pandas fast path gives the same answers as great-expectations' own pandas engine."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbpipe.quality import fast_pandas, native
from nbpipe.quality import suites as S

TEXT = ["a", "ab", "é", "日本", "", "b", "ñandú", "A"]
NUMS = [0.0, 1.0, 2.0, 2.0, 3.5, -1.0, float("nan"), None]


@st.composite
def frames(draw: Any) -> pd.DataFrame:
    n = draw(st.integers(0, 12))
    num = [draw(st.sampled_from(NUMS)) for _ in range(n)]
    n2 = [draw(st.sampled_from(NUMS)) for _ in range(n)]
    text = [draw(st.sampled_from([*TEXT, None])) for _ in range(n)]
    return pd.DataFrame({"num": pd.Series(num, dtype=float), "n2": pd.Series(n2, dtype=float),
                         "s": pd.Series(text, dtype=object)})


@st.composite
def expectation_lists(draw: Any) -> list[dict[str, Any]]:
    mostly = draw(st.sampled_from([None, 0.5, 0.8, 1.0]))

    def kw(**k: Any) -> dict[str, Any]:
        if mostly is not None:
            k["mostly"] = mostly
        return k

    lo = draw(st.integers(-1, 2))
    hi = lo + draw(st.integers(0, 3))
    return [
        {"type": S.NOT_NULL, "kwargs": kw(column=draw(st.sampled_from(["num", "s"])))},
        {"type": S.UNIQUE, "kwargs": kw(column=draw(st.sampled_from(["num", "s"])))},
        {"type": S.COMPOUND_UNIQUE, "kwargs": kw(column_list=["num", "s"], ignore_row_if=draw(
            st.sampled_from(["all_values_are_missing", "any_value_is_missing", "never"])))},
        {"type": S.BETWEEN, "kwargs": kw(column="num", min_value=lo, max_value=hi,
                                         strict_min=draw(st.booleans()), strict_max=draw(st.booleans()))},
        {"type": S.BETWEEN, "kwargs": kw(column="num", max_value=hi)},
        {"type": S.IN_SET, "kwargs": kw(column="s", value_set=draw(st.lists(st.sampled_from(TEXT), max_size=4)))},
        {"type": S.REGEX, "kwargs": kw(column="s", regex=draw(st.sampled_from(["^a", "b$", "é|日", "^$", "."])))},
        {"type": S.LENGTHS, "kwargs": kw(column="s", min_value=draw(st.integers(0, 1)),
                                         max_value=draw(st.integers(1, 3)))},
        {"type": S.PAIR_GREATER, "kwargs": kw(column_A="num", column_B="n2", or_equal=draw(st.booleans()),
                                              ignore_row_if=draw(st.sampled_from(
                                                  ["both_values_are_missing", "either_value_is_missing",
                                                   "neither"])))},
        {"type": S.ROW_COUNT, "kwargs": {"min_value": lo + 2, "max_value": hi + 5}},
    ]


def assert_same(fast: Any, gx: Any, label: str) -> None:
    """Fast-path result equals the GX one on the fields GX reports."""
    assert fast.engine == "fast", label
    assert gx.exception is None, f"{label}: GX raised {gx.exception}"
    assert fast.success == gx.success, label
    assert fast.unexpected_count == gx.unexpected_count, label
    if gx.unexpected_percent is None:
        assert fast.unexpected_percent is None, label
    else:
        assert math.isclose(fast.unexpected_percent, gx.unexpected_percent, rel_tol=1e-9), label
    assert fast.observed_value == gx.observed_value, label
    if gx.unexpected_count is not None:
        assert len(fast.partial_unexpected_list) == len(gx.partial_unexpected_list), label


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(df=frames(), exps=expectation_lists())
def test_pandas_fast_path_equals_gx(df: pd.DataFrame, exps: list[dict[str, Any]]) -> None:
    fast, masks = fast_pandas.validate(df, exps)
    gx = native.validate(df, exps)
    for exp, f, g in zip(exps, fast, gx):
        assert f is not None, f"{exp['type']} was not handled by the fast path"
        assert_same(f, g, f"{exp}\n{df!r}")
    for i, mask in masks.items():
        assert int(mask.sum()) == fast[i].unexpected_count


def test_empty_frame_and_all_null_column_are_vacuously_true() -> None:
    df = pd.DataFrame({"num": pd.Series([], dtype=float), "n2": pd.Series([], dtype=float),
                       "s": pd.Series([], dtype=object)})
    exps = [{"type": S.UNIQUE, "kwargs": {"column": "num"}}, {"type": S.NOT_NULL, "kwargs": {"column": "s"}}]
    fast, _ = fast_pandas.validate(df, exps)
    assert [r.success for r in fast] == [True, True]
    assert fast[0].unexpected_percent is None
    nulls = pd.DataFrame({"s": pd.Series([None, None], dtype=object)})
    res, _ = fast_pandas.validate(nulls, [{"type": S.REGEX, "kwargs": {"column": "s", "regex": "x"}}])
    assert res[0].success and res[0].missing_count == 2 and res[0].unexpected_percent is None


def test_unsupported_shapes_go_to_gx() -> None:
    df = pd.DataFrame({"i": pd.array([1, None, 3], dtype="Int64"), "s": ["a", "b", "c"]})
    exps = [
        {"type": S.BETWEEN, "kwargs": {"column": "i", "min_value": 0, "max_value": 2}},  # nullable dtype
        {"type": "expect_column_mean_to_be_between", "kwargs": {"column": "i", "min_value": 0, "max_value": 9}},
        {"type": S.NOT_NULL, "kwargs": {"column": "i", "row_condition": 'col("s")=="a"',
                                        "condition_parser": "great_expectations"}},
    ]
    fast, _ = fast_pandas.validate(df, exps)
    assert fast == [None, None, None]


def test_missing_column_names_the_closest_one() -> None:
    df = pd.DataFrame({"carrier": ["AA"]})
    fast, _ = fast_pandas.validate(df, [{"type": S.NOT_NULL, "kwargs": {"column": "carier"}}])
    assert fast[0] is not None and not fast[0].success
    assert "did you mean 'carrier'" in (fast[0].exception or "")


def test_foreign_key_uses_lookup_and_ignores_nulls() -> None:
    df = pd.DataFrame({"carrier": ["AA", "ZZ", None, "UA", "ZZ"]})
    airlines = pd.DataFrame({"code": ["AA", "UA", "DL"]})
    exp = {"type": S.FK_TYPE, "kwargs": {"column": "carrier", "dataset": "airlines", "dataset_column": "code"}}
    fast, masks = fast_pandas.validate(df, [exp], {"airlines": airlines}.__getitem__)
    res = fast[0]
    assert res is not None
    assert (res.success, res.unexpected_count, res.missing_count) == (False, 2, 1)
    assert res.unexpected_percent == pytest.approx(50.0)
    assert res.partial_unexpected_list == ["ZZ", "ZZ"]
    assert masks[0].tolist() == [False, True, False, False, True]
