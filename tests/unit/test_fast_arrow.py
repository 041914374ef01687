"""The in-process pyarrow engine, rule by rule, with Spark's semantics (NaN, -0.0, nulls, coercion, regex)."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from nbpipe.core.layout import REASON
from nbpipe.quality import fast_arrow
from nbpipe.quality import suites as S
from nbpipe.quality.java_regex import java_equivalent
from nbpipe.quality.results import ExpectationResult

NAN, INF = float("nan"), float("inf")


def _exp(typ: str, **kw: Any) -> dict[str, Any]:
    return {"type": typ, "kwargs": kw, "meta": {}}


def _types(table: pa.Table) -> dict[str, str]:
    out = {}
    for field in table.schema:
        found = fast_arrow.spark_type_of(field.type)
        assert found is not None
        out[field.name] = found
    return out


def _one(table: pa.Table, exp: dict[str, Any], **kw: Any) -> ExpectationResult:
    results = fast_arrow.validate(table, [exp], _types(table), **kw)
    assert results is not None and results[0] is not None
    return results[0]


def test_not_null_counts_over_all_rows_and_shows_the_nulls() -> None:
    res = _one(pa.table({"x": pa.array([1, None, 3, None], pa.int64())}), _exp(S.NOT_NULL, column="x"))
    assert (res.success, res.unexpected_count, res.unexpected_percent, res.missing_count) == (False, 2, 50.0, None)
    assert res.element_count == 4
    assert res.partial_unexpected_list == [None, None]


def test_nan_is_a_value_greater_than_every_number_and_equal_to_itself() -> None:
    table = pa.table({"x": pa.array([1.0, NAN, None, -0.0, INF], pa.float64())})
    res = _one(table, _exp(S.BETWEEN, column="x", min_value=0, max_value=2))
    assert (res.unexpected_count, res.missing_count) == (2, 1)  # NaN and inf; -0.0 >= 0
    assert res.partial_unexpected_list == ["NaN", "Infinity"]  # as Spark's to_json writes them
    only_nan = _one(table, _exp(S.BETWEEN, column="x", min_value=NAN))
    assert only_nan.unexpected_count == 3
    strict = _one(table, _exp(S.BETWEEN, column="x", min_value=0.0, strict_min=True))
    assert strict.partial_unexpected_list == [-0.0]


def test_an_integer_column_against_a_float_bound_is_compared_as_doubles() -> None:
    big = 2**53
    table = pa.table({"x": pa.array([big + 1], pa.int64())})
    assert _one(table, _exp(S.BETWEEN, column="x", min_value=big, strict_min=True)).success  # exact
    as_double = _one(table, _exp(S.BETWEEN, column="x", min_value=float(big), strict_min=True))
    assert as_double.unexpected_count == 1  # 2**53 + 1 becomes 2**53 as a double, as in Spark
    assert as_double.partial_unexpected_list == [big + 1]


def test_a_literal_of_another_family_goes_to_great_expectations_as_on_spark() -> None:
    table = pa.table({"x": pa.array([1, 2], pa.int64()), "s": pa.array(["a", "b"])})
    results = fast_arrow.validate(table, [_exp(S.IN_SET, column="x", value_set=["1"]),
                                          _exp(S.BETWEEN, column="s", min_value=1)], _types(table))
    assert results == [None, None]


def test_in_set_with_a_null_never_reports_unexpected_values() -> None:
    table = pa.table({"x": pa.array([1, 5, None], pa.int64())})
    assert _one(table, _exp(S.IN_SET, column="x", value_set=[1, None])).unexpected_count == 0
    assert _one(table, _exp(S.IN_SET, column="x", value_set=[1])).partial_unexpected_list == [5]
    assert _one(table, _exp(S.IN_SET, column="x", value_set=[])).unexpected_count == 2


def test_in_set_coerces_to_doubles_and_matches_nan_and_signed_zero() -> None:
    table = pa.table({"x": pa.array([1, 2, None], pa.int32()), "d": pa.array([NAN, -0.0, 0.5], pa.float64())})
    assert _one(table, _exp(S.IN_SET, column="x", value_set=[1.0, 2.5])).partial_unexpected_list == [2]
    assert _one(table, _exp(S.IN_SET, column="d", value_set=[NAN, 0.0])).partial_unexpected_list == [0.5]


def test_lengths_count_code_points() -> None:
    table = pa.table({"s": pa.array(["😀", "é", "ab", "", None])})
    res = _one(table, _exp(S.LENGTHS, column="s", min_value=1, max_value=1))
    assert (res.unexpected_count, res.partial_unexpected_list, res.missing_count) == (2, ["ab", ""], 1)


@pytest.mark.parametrize("pattern", ["^a", "b$", "a.b", r"^\w+$", "[a-c]+", "[^a]", "(?:ab|z)z?", "a{2,}",
                                     r"\d\s\.", "x|y", "a*?b", "[-a]", "é", ""])
def test_patterns_java_and_python_read_alike_are_accepted(pattern: str) -> None:
    assert java_equivalent(pattern) is not None


@pytest.mark.parametrize("pattern", ["(?i)a", r"\bab", "a++", r"\p{L}", "[[a]]", r"\Qa\E", "[a&&b]", r"\v",
                                     r"(a)\1", "a{,2}", "a{2", "}", "*a", "(a", "a)", "[]a]", r"\x41", "(?<n>a)",
                                     "[a--b]", "a**", "^*", r"\A", "[z-a]"])
def test_patterns_outside_the_shared_subset_are_refused(pattern: str) -> None:
    assert java_equivalent(pattern) is None


def test_regex_matches_with_find_semantics_and_ascii_classes() -> None:
    table = pa.table({"s": pa.array(["ab1", "xx", "٣", None, "a\n"])})
    res = _one(table, _exp(S.REGEX, column="s", regex=r"\d|a$"))
    assert res.partial_unexpected_list == ["xx", "٣"]  # Arabic-Indic digit: not \d in Java; "a\n": $ before \n


def test_a_regex_outside_the_subset_makes_the_whole_call_not_local() -> None:
    table = pa.table({"s": pa.array(["a"]), "x": pa.array([1], pa.int64())})
    suite = [_exp(S.NOT_NULL, column="x"), _exp(S.REGEX, column="s", regex="(?i)A")]
    assert fast_arrow.validate(table, suite, _types(table)) is None
    with pytest.raises(fast_arrow.NotLocal, match="regex"):
        fast_arrow.split_rows(table, suite, [0, 1])
    ok, bad = fast_arrow.split_rows(table, suite, [0])  # the regex is not chosen: not compiled
    assert (ok.num_rows, bad.num_rows) == (1, 0)


@pytest.mark.parametrize("value", ["a\rb", "a\u2028b", "ab\u0085"])
def test_dot_and_dollar_are_not_local_when_a_value_has_a_java_line_terminator(value: str) -> None:
    table = pa.table({"s": pa.array([value, "ab"])})
    assert fast_arrow.validate(table, [_exp(S.REGEX, column="s", regex="a.b")], _types(table)) is None
    assert fast_arrow.validate(table, [_exp(S.REGEX, column="s", regex="b$")], _types(table)) is None
    assert _one(table, _exp(S.REGEX, column="s", regex="^a")).success


def test_pair_rule_nan_strings_and_the_ignore_modes() -> None:
    table = pa.table({"a": pa.array([NAN, 1.0, None, None, 2.0], pa.float64()),
                      "b": pa.array([5.0, 1.0, 1.0, None, NAN], pa.float64()),
                      "s": pa.array(["é", "a", "b", None, "😀"]), "t": pa.array(["z", "a", None, None, "日本"])})
    res = _one(table, _exp(S.PAIR_GREATER, column_A="a", column_B="b"))
    assert (res.unexpected_count, res.missing_count) == (2, 1)  # 1 > 1 and 2 > NaN fail; nulls never do
    assert res.partial_unexpected_list == [(1.0, 1.0), (2.0, "NaN")]
    assert _one(table, _exp(S.PAIR_GREATER, column_A="a", column_B="b", or_equal=True)).unexpected_count == 1
    either = _one(table, _exp(S.PAIR_GREATER, column_A="a", column_B="b", ignore_row_if="either_value_is_missing"))
    assert either.missing_count == 2
    assert _one(table, _exp(S.PAIR_GREATER, column_A="a", column_B="b", ignore_row_if="neither")).missing_count == 0
    strings = _one(table, _exp(S.PAIR_GREATER, column_A="s", column_B="t"))
    assert strings.partial_unexpected_list == [("a", "a")]  # é > z and 😀 > 日本 by code point (UTF-8 bytes)


def test_pair_rule_compares_a_date_with_a_timestamp_as_utc_midnight() -> None:
    table = pa.table({"d": pa.array([dt.date(2013, 1, 2), dt.date(2013, 1, 1)], pa.date32()),
                      "ts": pa.array([dt.datetime(2013, 1, 1, 5, tzinfo=dt.UTC)] * 2, pa.timestamp("us", tz="UTC"))})
    res = _one(table, _exp(S.PAIR_GREATER, column_A="d", column_B="ts"))
    assert res.partial_unexpected_list == [("2013-01-01", "2013-01-01T05:00:00.000Z")]


def test_unique_groups_nan_and_signed_zero_and_ignores_nulls() -> None:
    table = pa.table({"d": pa.array([NAN, -0.0, 0.0, NAN, None, None, 1.0], pa.float64())})
    res = _one(table, _exp(S.UNIQUE, column="d"))
    assert (res.unexpected_count, res.missing_count) == (4, 2)
    shown = res.partial_unexpected_list
    assert len(shown) == 4 and math.isnan(shown[0]) and math.isnan(shown[1])
    assert [repr(v) for v in shown[2:]] == ["0.0", "0.0"]  # Spark's group key is the normalised 0.0


@pytest.mark.parametrize(("ignore", "unexpected", "missing"), [
    ("all_values_are_missing", 4, 2), ("any_value_is_missing", 2, 4), ("never", 6, 0)])
def test_compound_unique_honours_ignore_row_if(ignore: str, unexpected: int, missing: int) -> None:
    table = pa.table({"a": pa.array([1, 1, 2, 2, None, None], pa.int64()),
                      "b": pa.array(["x", "x", None, None, None, None])})
    res = _one(table, _exp(S.COMPOUND_UNIQUE, column_list=["a", "b"], ignore_row_if=ignore))
    assert (res.unexpected_count, res.missing_count) == (unexpected, missing)
    assert res.partial_unexpected_list[0] == {"a": 1, "b": "x"}


def test_examples_are_the_first_twenty_in_table_order_rendered_like_spark_json() -> None:
    stamps = [dt.datetime(2013, 1, 1, 5, 0, 0, 123999, tzinfo=dt.UTC) + dt.timedelta(days=i) for i in range(25)]
    table = pa.table({"ts": pa.array(stamps, pa.timestamp("us", tz="UTC")),
                      "d": pa.array([dt.date(999, 3, 1)] * 25, pa.date32())})
    res = _one(table, _exp(S.PAIR_GREATER, column_A="d", column_B="ts"))
    assert res.unexpected_count == 25 and len(res.partial_unexpected_list) == 20
    assert res.partial_unexpected_list[0] == ("0999-03-01", "2013-01-01T05:00:00.123Z")
    assert res.partial_unexpected_list[19][1] == "2013-01-20T05:00:00.123Z"
    assert _one(table, _exp(S.PAIR_GREATER, column_A="d", column_B="ts"), examples=False).partial_unexpected_list == []


def test_unique_timestamps_come_back_as_collect_gives_them() -> None:
    stamp = dt.datetime(2013, 1, 1, 5, 0, 0, 7, tzinfo=dt.UTC)
    table = pa.table({"ts": pa.array([stamp, stamp], pa.timestamp("us", tz="UTC"))})
    local = dt.datetime.fromtimestamp(stamp.timestamp()).replace(microsecond=7)  # naive, process time zone
    assert _one(table, _exp(S.UNIQUE, column="ts")).partial_unexpected_list == [local, local]


def test_row_count_missing_columns_and_ineligible_items() -> None:
    table = pa.table({"amount": pa.array([1, 2], pa.int64())})
    suite = [_exp(S.ROW_COUNT, min_value=3), _exp(S.NOT_NULL, column="amont"),
             _exp(S.UNEXPECTED_ROWS, unexpected_rows_query="SELECT count(*) FROM {batch}"),
             _exp(S.BETWEEN, column="amount", min_value=0, row_condition="amount > 1")]
    results = fast_arrow.validate(table, suite, _types(table))
    assert results is not None
    count, missing, query, conditioned = results
    assert count is not None and (count.success, count.observed_value) == (False, 2)
    assert missing is not None and missing.exception is not None and "did you mean 'amount'" in missing.exception
    assert query is None and conditioned is None  # great-expectations validates those, as on Spark


def test_an_sql_row_query_is_not_local() -> None:
    table = pa.table({"x": pa.array([1], pa.int64())})
    suite = [_exp(S.UNEXPECTED_ROWS, unexpected_rows_query="SELECT * FROM {batch} WHERE x > 0")]
    assert fast_arrow.validate(table, suite, _types(table)) is None


def test_column_types_outside_the_mirrored_set_are_not_local() -> None:
    table = pa.table({"f": pa.array([1.5, None], pa.float32()),
                      "m": pa.array([decimal.Decimal("1.50"), None], pa.decimal128(5, 2))})
    types = {"f": "float", "m": "decimal(5,2)"}
    assert fast_arrow.validate(table, [_exp(S.BETWEEN, column="f", min_value=0)], types) is None
    assert fast_arrow.validate(table, [_exp(S.UNIQUE, column="m")], types) is None
    nulls = fast_arrow.validate(table, [_exp(S.NOT_NULL, column="m")], types)  # only nullness is read
    assert nulls is not None and nulls[0] is not None and nulls[0].unexpected_count == 1


def test_spark_types_that_disagree_with_the_table_are_not_local() -> None:
    table = pa.table({"x": pa.array([1], pa.int64())})
    assert fast_arrow.validate(table, [_exp(S.UNIQUE, column="x")], {"x": "int"}) is None


def test_foreign_keys_against_arrow_and_pandas_references() -> None:
    table = pa.table({"k": pa.array(["a", "b", None, "c"])})
    exp = _exp(S.FK_TYPE, column="k", dataset="ref")
    for ref in (pa.table({"k": pa.array(["a", None, "c"])}), pd.DataFrame({"k": ["a", None, "c"]})):
        res = _one(table, exp, lookup=lambda name, ref=ref: ref)
        assert (res.unexpected_count, res.partial_unexpected_list, res.missing_count) == (1, ["b"], 1)
    no_registry = _one(table, exp)
    assert no_registry.exception == "KeyError: \"no DataFrame registry to resolve dataset 'ref'\""
    floats = pd.DataFrame({"k": [1.0, None]})
    numbers = pa.table({"k": pa.array([1], pa.int64())})
    assert fast_arrow.validate(numbers, [exp], {"k": "bigint"}, lookup=lambda name: floats) is None


def test_split_rows_tags_reasons_in_suite_order_and_keeps_table_order() -> None:
    table = pa.table({"id": pa.array([1, 2, 2, 3, None], pa.int64()), "s": pa.array(["ok", "ok", "", "bad", "ok"])})
    suite = [_exp(S.UNIQUE, column="id"), _exp(S.ROW_COUNT, min_value=0), _exp(S.REGEX, column="s", regex="^ok$"),
             _exp(S.NOT_NULL, column="id")]
    passing, rejected = fast_arrow.split_rows(table, suite, [0, 2, 3])
    assert passing.schema == table.schema
    assert passing.to_pylist() == [{"id": 1, "s": "ok"}]
    assert rejected.schema.names == ["id", "s", REASON]
    assert [(r["id"], r[REASON]) for r in rejected.to_pylist()] == [
        (2, S.UNIQUE), (2, f"{S.UNIQUE},{S.REGEX}"), (3, S.REGEX), (None, S.NOT_NULL)]
    again = fast_arrow.split_rows(table, suite, [0, 2, 3])
    assert again[0].equals(passing) and again[1].equals(rejected)


def test_split_rows_without_row_rules_keeps_everything() -> None:
    table = pa.table({"id": pa.array([1, 2], pa.int64())})
    passing, rejected = fast_arrow.split_rows(table, [_exp(S.ROW_COUNT, min_value=0)], [0])
    assert passing.equals(table)
    assert rejected.num_rows == 0 and rejected.schema.names == ["id", REASON]


def test_an_empty_table_succeeds_with_spark_s_empty_percentages() -> None:
    table = pa.table({"x": pa.array([], pa.float64())})
    res = _one(table, _exp(S.BETWEEN, column="x", min_value=0))
    assert (res.success, res.unexpected_count, res.unexpected_percent, res.element_count) == (True, 0, None, 0)
