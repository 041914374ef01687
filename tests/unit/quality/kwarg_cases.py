"""Hypothesis strategies for expectation kwargs GX accepts, coerces or refuses, and a comparison.

Shared by the pandas tests here and the Spark tests in ``tests/integration/test_quality_spark.py``.
Frames have a double column ``num``, a second double ``n2`` and a string column ``s``.
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import strategies as st

from nbpipe.quality import suites as S

ABSENT = object()

MOSTLY = [ABSENT, ABSENT, 0.5, 1.0, 0, "0.5", -0.1, 1.5, None, "abc", True]
FLAGS = [ABSENT, True, False, "false", "true", "yes", "no", "0", "1", 0, 1, None, "maybe"]
BOUNDS = [ABSENT, None, -1, 0, 1, 2, 3, 0.5, 2.5, "1", "2.5", "abc", True, 2**64, -(2**64)]
LENGTHS = [ABSENT, None, 0, 1, 2, 3, 1.5, "2", "1.5", 2**64, -1]
REGEXES = [ABSENT, "^a", "b$", "é|日", "^$", "[", "(?P<x>a)", 5, None]
VALUE_SETS = [ABSENT, ["a", "ab"], [], ["é", "日本", ""], None, "abc", [1, "a"], ("a",)]
COLUMN_LISTS = [["num", "s"], ["num", "s"], ["num"], ["num", "num"], "ns"]
COMPOUND_IGNORE = [ABSENT, "all_values_are_missing", "any_value_is_missing", "never", "bogus"]
PAIR_IGNORE = [ABSENT, "both_values_are_missing", "either_value_is_missing", "neither", "never"]
TYPOS = ["max_vlaue", "min_vale", "colum", "value_sets", "regx", "mostyl", "strict"]


def _put(kwargs: dict[str, Any], key: str, value: Any) -> None:
    if value is not ABSENT:
        kwargs[key] = value


@st.composite
def expectation(draw: Any) -> dict[str, Any]:
    """One expectation of a fast-path type with valid, coerced or invalid kwargs."""
    kind = draw(st.sampled_from([S.NOT_NULL, S.UNIQUE, S.COMPOUND_UNIQUE, S.BETWEEN, S.IN_SET, S.REGEX,
                                 S.LENGTHS, S.PAIR_GREATER, S.ROW_COUNT]))
    kw: dict[str, Any] = {}
    if kind in (S.NOT_NULL, S.UNIQUE):
        kw["column"] = draw(st.sampled_from(["num", "s"]))
    elif kind == S.COMPOUND_UNIQUE:
        kw["column_list"] = draw(st.sampled_from(COLUMN_LISTS))
        _put(kw, "ignore_row_if", draw(st.sampled_from(COMPOUND_IGNORE)))
    elif kind == S.BETWEEN:
        kw["column"] = "num"
        _put(kw, "min_value", draw(st.sampled_from(BOUNDS)))
        _put(kw, "max_value", draw(st.sampled_from(BOUNDS)))
        _put(kw, "strict_min", draw(st.sampled_from(FLAGS)))
        _put(kw, "strict_max", draw(st.sampled_from(FLAGS)))
    elif kind == S.IN_SET:
        kw["column"] = "s"
        _put(kw, "value_set", draw(st.sampled_from(VALUE_SETS)))
    elif kind == S.REGEX:
        kw["column"] = "s"
        _put(kw, "regex", draw(st.sampled_from(REGEXES)))
    elif kind == S.LENGTHS:
        kw["column"] = "s"
        _put(kw, "min_value", draw(st.sampled_from(LENGTHS)))
        _put(kw, "max_value", draw(st.sampled_from(LENGTHS)))
    elif kind == S.PAIR_GREATER:
        kw.update(column_A="num", column_B="n2")
        _put(kw, "or_equal", draw(st.sampled_from(FLAGS)))
        _put(kw, "ignore_row_if", draw(st.sampled_from(PAIR_IGNORE)))
    else:
        _put(kw, "min_value", draw(st.sampled_from(LENGTHS)))
        _put(kw, "max_value", draw(st.sampled_from(LENGTHS)))
    if kind != S.ROW_COUNT:
        _put(kw, "mostly", draw(st.sampled_from(MOSTLY)))
    if draw(st.integers(0, 5)) == 0:
        kw[draw(st.sampled_from(TYPOS))] = 1
    return {"type": kind, "kwargs": kw}


def expectations(max_size: int = 6) -> st.SearchStrategy[list[dict[str, Any]]]:
    """A suite's worth of :func:`expectation`."""
    return st.lists(expectation(), min_size=1, max_size=max_size)


def assert_agree(ours: Any, gx: Any, label: str) -> None:
    """nbpipe's result says what great-expectations' own result says."""
    assert ours is not None, label
    assert ours.success == gx.success, f"{label}\nnbpipe: {ours}\nGX: {gx}"
    assert ours.invalid == gx.invalid, f"{label}\nnbpipe: {ours.exception}\nGX: {gx.exception}"
    if gx.exception is not None:
        assert ours.exception, f"{label}: GX failed it ({gx.exception}) but nbpipe reports no error"
        return
    assert ours.exception is None, f"{label}: nbpipe failed it ({ours.exception}), GX computed it"
    assert ours.observed_value == gx.observed_value, label
    if gx.unexpected_count is None:  # GX's Spark engine reports no count for an empty frame
        assert ours.unexpected_count in (None, 0) and gx.element_count in (None, 0), label
        return
    assert ours.unexpected_count == gx.unexpected_count, label
    if gx.unexpected_percent is None:
        assert ours.unexpected_percent is None, label
    else:
        assert math.isclose(ours.unexpected_percent, gx.unexpected_percent, rel_tol=1e-9), label
