"""The in-process pyarrow engine gives exactly the Spark fast path's results (real Spark, UTC session).

Generated tables (every supported type, nulls everywhere, NaN/-0.0/inf, unicode and empty
strings, empty frames) and generated suites are validated and split on both engines: the
counts, percentages, examples and quarantined rows must be the same.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from nbpipe.core.layout import REASON
from nbpipe.quality import fast_arrow, fast_spark
from nbpipe.quality import suites as S
from nbpipe.quality.java_regex import LINE_TERMINATORS, java_equivalent
from nbpipe.quality.results import MAX_EXAMPLES, ExpectationResult

pytestmark = [pytest.mark.spark, pytest.mark.slow]

UTC = dt.UTC
NAN, INF = float("nan"), float("inf")
POOLS: dict[str, tuple[pa.DataType, list[Any]]] = {
    "i": (pa.int32(), [-2, -1, 0, 1, 2, 2**31 - 1]),
    "l": (pa.int64(), [0, 1, -1, 2**53, 2**53 + 1, 2**63 - 1, -(2**63)]),
    "d": (pa.float64(), [0.0, -0.0, 1.5, -1.5, NAN, INF, -INF, 2.0, 1e-7, 9007199254740992.0]),
    "e": (pa.float64(), [0.0, 1.0, NAN, -0.0, 2.0, -INF]),
    "s": (pa.string(), ["", "a", "ab", "é", "Ω", "😀", "a\nb", "abc\r", "A1", "x y", "a\u2028", "zz9"]),
    "t": (pa.string(), ["", "a", "b", "ab", "日本", "😀z"]),
    "b": (pa.bool_(), [True, False]),
    "dt": (pa.date32(), [dt.date(2013, 1, 1), dt.date(1969, 12, 31), dt.date(999, 3, 1)]),
    "ts": (pa.timestamp("us", tz="UTC"), [dt.datetime(2013, 1, 1, 5, 0, 0, 123456, tzinfo=UTC),
                                          dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
                                          dt.datetime(2013, 1, 1, 5, tzinfo=UTC)]),
    "ts2": (pa.timestamp("us", tz="UTC"), [dt.datetime(2013, 1, 1, 5, tzinfo=UTC),
                                           dt.datetime(2020, 2, 29, tzinfo=UTC)]),
}
NUMERIC, STRINGS, TIMES = ["i", "l", "d", "e"], ["s", "t"], ["dt", "ts", "ts2"]
BOUNDS = [None, 0, 1, -1, 2, 1.5, -0.0, NAN, INF, -INF, 2**53, 2**53 + 1, 9007199254740993]
REGEXES = ["^a", "b$", "a.b", "^$", r"\d", r"^\w+$", "[a-c]+", "[^a]", "(?:ab|z)z?", "a{2,}", r"\s", "x|y",
           ".", "^[A-Z][0-9]", r"\.", "é", "a*?b", "[-a]", "😀",
           # outside the shared subset: never local
           "(?i)a", r"\bab", "a++", r"\p{L}", "[[a]]", r"\Qa\E", "[a&&b]", r"\v", r"(a)\1"]


@st.composite
def tables(draw: Any) -> pa.Table:
    n = draw(st.integers(0, 12))
    cols = {}
    for name, (typ, pool) in POOLS.items():
        values = [draw(st.sampled_from([None, *pool])) for _ in range(n)]
        cols[name] = pa.array(values, typ)
    return pa.table(cols)


def _edge_table() -> pa.Table:
    """Every tricky value of every type at least twice, plus nulls, in one table."""
    n = 14
    cols = {}
    for name, (typ, pool) in POOLS.items():
        values = [*pool, None, *pool, None]
        cols[name] = pa.array([values[(i * 3) % len(values)] if name in ("e", "t", "ts2") else values[i % len(values)]
                               for i in range(n)], typ)
    return pa.table(cols)


def _e(typ: str, **kw: Any) -> dict[str, Any]:
    return {"type": typ, "kwargs": kw, "meta": {}}


#: One suite that exercises every mirrored semantic on :func:`_edge_table` (always run).
EDGE_SUITE = [
    _e(S.BETWEEN, column="d", min_value=0), _e(S.BETWEEN, column="d", max_value=1.5, strict_max=True),
    _e(S.BETWEEN, column="d", min_value=NAN), _e(S.BETWEEN, column="l", min_value=float(2**53), strict_min=True),
    _e(S.BETWEEN, column="l", min_value=2**53, strict_min=True), _e(S.BETWEEN, column="i", min_value=-1.5),
    _e(S.IN_SET, column="l", value_set=[0, 1, None]), _e(S.IN_SET, column="l", value_set=[float(2**53), 1]),
    _e(S.IN_SET, column="d", value_set=[NAN, 0.0, INF]), _e(S.IN_SET, column="s", value_set=["", "é", "😀"]),
    _e(S.IN_SET, column="b", value_set=[True]), _e(S.IN_SET, column="i", value_set=[]),
    _e(S.REGEX, column="t", regex=r"^\w+$"), _e(S.REGEX, column="t", regex="[^a-z]"),
    _e(S.LENGTHS, column="s", min_value=1, max_value=2), _e(S.NOT_NULL, column="ts", mostly=0.5),
    _e(S.PAIR_GREATER, column_A="d", column_B="e"), _e(S.PAIR_GREATER, column_A="e", column_B="d", or_equal=True,
                                                       ignore_row_if="neither"),
    _e(S.PAIR_GREATER, column_A="l", column_B="d", ignore_row_if="either_value_is_missing"),
    _e(S.PAIR_GREATER, column_A="s", column_B="t"), _e(S.PAIR_GREATER, column_A="dt", column_B="ts"),
    _e(S.PAIR_GREATER, column_A="ts2", column_B="ts", or_equal=True),
    _e(S.UNIQUE, column="d"), _e(S.UNIQUE, column="ts"), _e(S.UNIQUE, column="b"),
    _e(S.COMPOUND_UNIQUE, column_list=["e", "t"], ignore_row_if="never"),
    _e(S.COMPOUND_UNIQUE, column_list=["dt", "b"], ignore_row_if="any_value_is_missing"),
    _e(S.COMPOUND_UNIQUE, column_list=["e", "ts2"]), _e(S.ROW_COUNT, min_value=1, max_value=20),
]


def _bounds(draw: Any, strict: bool) -> dict[str, Any]:
    kw = {"min_value": draw(st.sampled_from(BOUNDS)), "max_value": draw(st.sampled_from(BOUNDS))}
    if strict:
        kw.update(strict_min=draw(st.booleans()), strict_max=draw(st.booleans()))
    return kw


@st.composite
def expectation(draw: Any) -> dict[str, Any]:
    kind = draw(st.sampled_from(["null", "between", "between", "set", "set", "regex", "regex", "length", "pair",
                                 "pair", "unique", "compound", "compound", "rows", "missing"]))
    col = draw(st.sampled_from(list(POOLS)))
    kw: dict[str, Any]
    if kind == "null":
        typ, kw = S.NOT_NULL, {"column": col}
    elif kind == "between":
        typ, kw = S.BETWEEN, {"column": draw(st.sampled_from([*NUMERIC, "s"])), **_bounds(draw, True)}
    elif kind == "set":
        extra = [1, 1.0, 2.5, NAN, -0.0] if col in NUMERIC else []
        odd = draw(st.sampled_from([[], [], [], [None], ["a"], [True]]))  # a null, or another type family
        pool = POOLS[col][1] + extra
        typ, kw = S.IN_SET, {"column": col, "value_set": draw(st.lists(st.sampled_from(pool), max_size=4)) + odd}
    elif kind == "regex":
        typ, kw = S.REGEX, {"column": draw(st.sampled_from(STRINGS)), "regex": draw(st.sampled_from(REGEXES))}
    elif kind == "length":
        typ, kw = S.LENGTHS, {"column": draw(st.sampled_from(STRINGS)),
                              "min_value": draw(st.sampled_from([None, 0, 1, 2, 2.0])),
                              "max_value": draw(st.sampled_from([None, 1, 2, 3.0]))}
    elif kind == "pair":
        family = draw(st.sampled_from([NUMERIC, STRINGS, TIMES, ["b", "i"]]))
        typ, kw = S.PAIR_GREATER, {
            "column_A": draw(st.sampled_from(family)), "column_B": draw(st.sampled_from(family)),
            "or_equal": draw(st.booleans()),
            "ignore_row_if": draw(st.sampled_from(["both_values_are_missing", "either_value_is_missing",
                                                   "neither"]))}
    elif kind == "unique":
        typ, kw = S.UNIQUE, {"column": col}
    elif kind == "compound":
        cols = draw(st.lists(st.sampled_from(list(POOLS)), min_size=1, max_size=3, unique=True))
        typ, kw = S.COMPOUND_UNIQUE, {"column_list": cols, "ignore_row_if": draw(st.sampled_from(
            ["all_values_are_missing", "any_value_is_missing", "never"]))}
    elif kind == "rows":
        typ, kw = S.ROW_COUNT, {"min_value": draw(st.sampled_from([None, 0, 3])), "max_value": 5}
    else:
        typ, kw = S.NOT_NULL, {"column": "nope"}
    if kind not in ("rows", "missing") and draw(st.booleans()):
        kw["mostly"] = draw(st.sampled_from([0.5, 0.9]))
    return {"type": typ, "kwargs": kw, "meta": {}}


def _not_local(table: pa.Table, suite: list[dict[str, Any]]) -> bool:
    """Whether some expectation is a regex this engine must refuse (the only refusals generated here)."""
    for exp in suite:
        if exp["type"] != S.REGEX or exp["kwargs"]["column"] not in STRINGS:
            continue
        plan = java_equivalent(exp["kwargs"]["regex"])
        values = table.column(exp["kwargs"]["column"]).to_pylist()
        if plan is None or (plan.line_sensitive and any(v and any(c in v for c in LINE_TERMINATORS) for v in values)):
            return True
    return False


def _show(values: list[Any]) -> list[str]:
    return [repr(v) for v in values]


def _same_result(spark: ExpectationResult | None, local: ExpectationResult | None, table: pa.Table) -> None:
    assert (spark is None) == (local is None)
    if spark is None or local is None:
        return
    want, got = spark.to_dict(), local.to_dict()
    want.pop("partial_unexpected_list")
    got.pop("partial_unexpected_list")
    assert got == want
    if spark.expectation_type in (S.UNIQUE, S.COMPOUND_UNIQUE):
        # Spark's group order is arbitrary; its multiset is determined when every duplicate fits.
        assert len(local.partial_unexpected_list) == len(spark.partial_unexpected_list)
        if (spark.unexpected_count or 0) <= MAX_EXAMPLES:
            assert Counter(_show(local.partial_unexpected_list)) == Counter(_show(spark.partial_unexpected_list))
    else:
        assert _show(local.partial_unexpected_list) == _show(spark.partial_unexpected_list)


def _rows(table: pa.Table) -> list[tuple[str, ...]]:
    return sorted(tuple(repr(v) for v in row.values()) for row in table.to_pylist())


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(table=tables(), suite=st.lists(expectation(), min_size=2, max_size=7))
@example(table=_edge_table(), suite=EDGE_SUITE)
@example(table=_edge_table().slice(0, 0), suite=EDGE_SUITE)
def test_validate_and_split_equal_the_spark_fast_path(spark: Any, table: pa.Table,
                                                      suite: list[dict[str, Any]]) -> None:
    df = spark.createDataFrame(table)
    types = dict(df.dtypes)
    arrow = df.toArrow()  # what the engine receives in production: NaN, -0.0, order and types survive
    assert arrow.schema.types == table.schema.types
    assert [repr(row) for row in arrow.to_pylist()] == [repr(row) for row in table.to_pylist()]
    local = fast_arrow.validate(arrow, suite, types)
    if _not_local(table, suite):
        assert local is None
        return
    assert local is not None, suite
    remote = fast_spark.validate(df, suite)
    for want, got in zip(remote, local, strict=True):
        _same_result(want, got, table)
    indices = [i for i, exp in enumerate(suite) if exp["type"] in S.ROW_LEVEL_TYPES]
    passing, rejected = fast_spark.split_rows(df, suite, indices)
    ok, bad = fast_arrow.split_rows(arrow, suite, indices, spark_types=types)
    assert ok.schema.names == table.schema.names
    assert bad.schema.names == [*table.schema.names, REASON]
    assert _rows(ok) == _rows(passing.toArrow())
    assert _rows(bad) == _rows(rejected.toArrow())


def test_a_foreign_key_into_a_spark_frame_is_not_local(spark: Any) -> None:
    table = pa.table({"k": pa.array([1, 2, 3], pa.int64())})
    ref = spark.createDataFrame(pa.table({"k": pa.array([1, 2], pa.int64())}))
    suite = [{"type": S.FK_TYPE, "kwargs": {"column": "k", "dataset": "ref"}}]
    assert fast_arrow.validate(table, suite, {"k": "bigint"}, lookup=lambda name: ref) is None
    with pytest.raises(fast_arrow.NotLocal, match="Spark frame"):
        fast_arrow.split_rows(table, suite, [0], lookup=lambda name: ref)


def test_a_foreign_key_into_an_arrow_table_equals_spark(spark: Any) -> None:
    table = pa.table({"k": pa.array([1, 2, None, 3, 2, 9007199254740993], pa.int64())})
    ref = pa.table({"k": pa.array([1.0, 2.0, None, 9007199254740992.0], pa.float64())})
    suite = [{"type": S.FK_TYPE, "kwargs": {"column": "k", "dataset": "ref"}}]
    df = spark.createDataFrame(table)
    want = fast_spark.validate(df, suite, lookup=lambda name: spark.createDataFrame(ref))
    got = fast_arrow.validate(table, suite, dict(df.dtypes), lookup=lambda name: ref)
    assert got is not None
    assert [r.to_dict() for r in got if r] == [r.to_dict() for r in want if r]
    assert got[0] is not None and got[0].unexpected_count == 1  # 3; 2**53+1 rounds to a key as a double
    passing, rejected = fast_spark.split_rows(df, suite, [0], lookup=lambda name: spark.createDataFrame(ref))
    ok, bad = fast_arrow.split_rows(table, suite, [0], lookup=lambda name: ref)
    assert _rows(ok) == _rows(passing.toArrow())
    assert _rows(bad) == _rows(rejected.toArrow())
