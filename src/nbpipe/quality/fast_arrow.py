"""In-process pyarrow engine: :mod:`.fast_spark`'s results, computed on a small frame's Arrow table.

A small frame is materialised once (``df.limit(N + 1).toArrow()``); this module then runs the
fast-path suite on that table with pyarrow and numpy and returns exactly what
:func:`.fast_spark.validate` and :func:`.fast_spark.split_rows` return on the Spark frame:
same counts, same examples (rendered as Spark's ``to_json`` renders them), same quarantined
rows and reasons. The Spark semantics mirrored:

* only null is missing; a comparison with a null is not unexpected (pair rules included);
* NaN is a value, NaN = NaN and NaN is greater than every number; -0.0 = 0.0;
* an integer column compared with a float literal (or column) is compared as doubles, as Spark's
  type coercion does (large longs round the same way); ``isin`` with a null in the set never
  yields "unexpected" (``x IN (…, NULL)`` is NULL, not false);
* strings compare by UTF-8 bytes (= code points), ``length`` counts code points;
* uniqueness groups nulls together and normalises NaN and -0.0 as Spark's grouping does.

Whatever this module cannot prove identical raises :class:`NotLocal` (``validate`` then returns
None and the caller validates on Spark): a column type outside the supported set, a regex outside
the Java/Python-equivalent subset of :mod:`.java_regex`, an ``unexpected_rows_query`` (SQL), a
foreign key whose reference is a Spark frame, an integer literal outside 64 bits. How Spark renders
a value (``to_json`` examples, ``collect()`` group keys) lives in :mod:`.arrow_values`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nbpipe.core.layout import REASON
from nbpipe.quality import suites as S
from nbpipe.quality.arrow_values import collected_value, json_value, key_values, spark_type_of
from nbpipe.quality.fast_spark import _bounds, _family, _literal_family, _missing_column
from nbpipe.quality.java_regex import LINE_TERMINATORS, java_equivalent
from nbpipe.quality.results import MAX_EXAMPLES, ExpectationResult, error_result, map_result, row_count_result

Lookup = Callable[[str], Any]
_INT64 = (-(2**63), 2**63 - 1)


class NotLocal(Exception):
    """This suite (or frame) cannot be validated in-process with results identical to Spark's."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ---------------------------------------------------------------------------------------------- columns


@dataclass
class _Col:
    """One column: its Arrow data, Spark type, and numpy views for numbers."""

    name: str
    data: pa.Array
    spark_type: str
    valid: np.ndarray  # bool per row: not null

    @property
    def integer(self) -> bool:
        return self.spark_type in ("tinyint", "smallint", "int", "bigint")

    def numbers(self, as_float: bool) -> np.ndarray:
        """The values as int64 or float64 (nulls as 0)."""
        kind = pa.float64() if as_float or not self.integer else pa.int64()
        filled = pc.fill_null(pc.cast(self.data, kind, safe=False), pa.scalar(0, kind))
        return np.asarray(filled.to_numpy(zero_copy_only=False))


class _Table:
    def __init__(self, table: pa.Table, types: dict[str, str]) -> None:
        self.table = table
        self.types = types
        self.rows = table.num_rows
        self._cols: dict[str, _Col] = {}

    def col(self, name: str, *, any_type: bool = False) -> _Col:
        found = self._cols.get(name)
        if found is not None:
            return found
        if name not in self.table.column_names:
            raise NotLocal(f"column {name!r} is in the Spark frame's types but not in the Arrow table")
        data = self.table.column(name).combine_chunks()
        derived = spark_type_of(data.type)
        if derived is None and not any_type:
            raise NotLocal(f"column {name!r} has type {data.type} (Spark {self.types[name]!r}), which this "
                           "engine does not mirror")
        if derived is not None and derived != self.types[name]:
            raise NotLocal(f"column {name!r} is {data.type} in Arrow but {self.types[name]!r} in Spark")
        valid = np.asarray(pc.is_valid(data).to_numpy(zero_copy_only=False), dtype=bool)
        found = _Col(name, data, self.types[name], valid)
        if derived is not None:
            self._cols[name] = found
        return found


# ------------------------------------------------------------------------------------ Spark comparisons


def _int_literal(value: Any) -> int:
    if not _INT64[0] <= value <= _INT64[1]:
        raise NotLocal(f"integer literal {value} is outside Spark's 64-bit range")
    return int(value)


def _gt(x: Any, y: Any) -> np.ndarray:
    """Spark's ``x > y`` on doubles (NaN is the greatest value and equal to itself)."""
    nx, ny = np.isnan(x), np.isnan(y)
    return np.asarray((nx & ~ny) | (~nx & ~ny & (x > y)), dtype=bool)


def _eq(x: Any, y: Any) -> np.ndarray:
    return np.asarray((np.isnan(x) & np.isnan(y)) | (x == y), dtype=bool)


def _compare(x: Any, op: str, y: Any, floats: bool) -> np.ndarray:
    """``x op y`` with Spark's semantics; ``floats``: compare as doubles (NaN rules), else exactly."""
    if not floats:
        return np.asarray({">": x > y, ">=": x >= y, "<": x < y, "<=": x <= y}[op], dtype=bool)
    if op == ">":
        return _gt(x, y)
    if op == "<":
        return _gt(y, x)
    if op == ">=":
        return _gt(x, y) | _eq(x, y)
    return _gt(y, x) | _eq(x, y)


def _between(col: _Col | np.ndarray, kw: dict[str, Any]) -> np.ndarray:
    """Spark's ``_between``: each bound is coerced with the column on its own (int vs float: doubles)."""
    lo, hi = kw.get("min_value"), kw.get("max_value")
    rows = len(col.valid) if isinstance(col, _Col) else len(col)
    ok = np.ones(rows, dtype=bool)
    for bound, strict, op in ((lo, "strict_min", (">", ">=")), (hi, "strict_max", ("<", "<="))):
        if bound is None:
            continue
        if isinstance(bound, int):
            _int_literal(bound)
        floats = isinstance(bound, float) or (isinstance(col, _Col) and not col.integer)
        values = col.numbers(floats) if isinstance(col, _Col) else (col.astype(np.float64) if floats else col)
        ok &= _compare(values, op[0] if kw.get(strict) else op[1], float(bound) if floats else bound, floats)
    return ok


# ------------------------------------------------------------------------------------------------ rules


@dataclass
class _Map:
    index: int
    exp: dict[str, Any]
    unexpected: np.ndarray
    domain: np.ndarray | None
    shown: list[_Col]
    shape: str = "value"


@dataclass
class _Unique:
    index: int
    exp: dict[str, Any]
    cols: list[_Col]
    keep: np.ndarray  # per row: its group is in the rule's domain
    keys: list[tuple[Any, ...]]  # per row: the normalised group key
    counts: Counter[tuple[Any, ...]]

    @property
    def dup(self) -> np.ndarray:
        counts = self.counts
        return self.keep & np.fromiter((counts[k] > 1 for k in self.keys), dtype=bool, count=len(self.keys))


def _compile_unique(t: _Table, i: int, exp: dict[str, Any], names: list[str], ignore: str) -> _Unique:
    cols = [t.col(n) for n in names]
    valid = np.array([c.valid for c in cols]).reshape(len(cols), t.rows)
    keep = {"nonnull": valid[0], "all_values_are_missing": valid.any(axis=0),
            "any_value_is_missing": valid.all(axis=0)}.get(ignore, np.ones(t.rows, dtype=bool))
    keys = list(zip(*[key_values(c.data, c.spark_type) for c in cols], strict=True)) if cols else []
    return _Unique(i, exp, cols, np.asarray(keep, dtype=bool), keys, Counter(keys))


def _compile(t: _Table, i: int, exp: dict[str, Any], lookup: Lookup | None) -> _Map | _Unique | None:
    """Compile expectation ``i`` like :func:`.fast_spark._compile` (None where it returns None)."""
    typ, kw = exp["type"], exp["kwargs"]
    if typ == S.UNEXPECTED_ROWS:
        raise NotLocal("unexpected_rows_query is SQL; only Spark evaluates it")
    if typ == S.NOT_NULL:
        col = t.col(kw["column"], any_type=True)
        return _Map(i, exp, ~col.valid, None, [col])
    if typ == S.UNIQUE:
        return _compile_unique(t, i, exp, [kw["column"]], "nonnull")
    if typ == S.COMPOUND_UNIQUE:
        rule = kw.get("ignore_row_if", "all_values_are_missing")
        if rule not in ("all_values_are_missing", "any_value_is_missing", "never"):
            return None
        return _compile_unique(t, i, exp, list(kw["column_list"]), rule)
    if typ == S.PAIR_GREATER:
        return _compile_pair(t, i, exp)
    col_name = kw["column"]
    family = _family(t.types[col_name])
    if typ == S.BETWEEN:
        if family != "number" or not _bounds(kw):
            return None
        col = t.col(col_name)
        ok = _between(col, kw)
    elif typ == S.IN_SET:
        values = kw.get("value_set")
        col = t.col(col_name, any_type=values is None)
        if values is None:
            ok = np.ones(t.rows, dtype=bool)
        else:
            if not isinstance(values, (list, tuple, set)):
                return None
            fam = _literal_family(list(values))
            if fam is None or (fam != "any" and fam != family):
                return None
            ok = _isin(col, list(values))
    elif typ == S.REGEX:
        if family != "string" or not isinstance(kw.get("regex"), str):
            return None
        col = t.col(col_name)
        ok = _rlike(col, kw["regex"])
    elif typ == S.LENGTHS:
        if family != "string" or not _bounds(kw, integers=True):
            return None
        col = t.col(col_name)
        lengths = np.asarray(pc.fill_null(pc.utf8_length(col.data), 0).to_numpy(zero_copy_only=False), np.int64)
        ok = _between(lengths, kw)
    elif typ == S.FK_TYPE:
        if lookup is None:
            raise KeyError(f"no DataFrame registry to resolve dataset {kw.get('dataset')!r}")
        ref_col = kw.get("dataset_column") or col_name
        col = t.col(col_name)
        ok = _in_reference(col, lookup(kw["dataset"]), ref_col)
    else:
        return None
    return _Map(i, exp, col.valid & ~ok, col.valid, [col])


def _compile_pair(t: _Table, i: int, exp: dict[str, Any]) -> _Map | None:
    kw = exp["kwargs"]
    fa, fb = _family(t.types[kw["column_A"]]), _family(t.types[kw["column_B"]])
    if fa != fb or fa not in ("number", "string", "time"):
        return None
    rule = kw.get("ignore_row_if", "both_values_are_missing")
    if rule not in ("both_values_are_missing", "either_value_is_missing", "neither"):
        return None
    a, b = t.col(kw["column_A"]), t.col(kw["column_B"])
    domain = {"both_values_are_missing": a.valid | b.valid, "either_value_is_missing": a.valid & b.valid,
              "neither": np.ones(t.rows, dtype=bool)}[rule]
    op = ">=" if kw.get("or_equal") else ">"
    if fa == "number":
        floats = not (a.integer and b.integer)
        ok = _compare(a.numbers(floats), op, b.numbers(floats), floats)
    else:
        # Spark compares a date with a timestamp as timestamps (midnight in the UTC session).
        common = pa.string() if fa == "string" else (
            a.data.type if a.spark_type == b.spark_type else pa.timestamp("us", tz="UTC"))
        x, y = pc.cast(a.data, common), pc.cast(b.data, common)
        cmp = pc.greater_equal(x, y) if op == ">=" else pc.greater(x, y)
        ok = np.asarray(pc.fill_null(cmp, True).to_numpy(zero_copy_only=False), dtype=bool)
    # A comparison with a null is NULL in Spark: never unexpected.
    unexpected = domain & a.valid & b.valid & ~ok
    return _Map(i, exp, unexpected, np.asarray(domain, dtype=bool), [a, b], "pair")


def _isin(col: _Col, values: list[Any]) -> np.ndarray:
    """Spark's ``col IN (values)`` as "definitely true"; with a null in the set a miss is NULL, not false."""
    present = [v for v in values if v is not None]
    if len(present) < len(values):  # x IN (…, NULL) is true or NULL: nothing is ever unexpected
        return np.ones(len(col.valid), dtype=bool)
    if col.spark_type in ("tinyint", "smallint", "int", "bigint", "double"):
        floats = not col.integer or any(isinstance(v, float) for v in present)
        data = col.numbers(floats)
        ok = np.zeros(len(data), dtype=bool)
        for v in present:
            ok |= _eq(data, float(v)) if floats else data == _int_literal(v)
        return ok
    found = pc.is_in(col.data, value_set=pa.array(present, type=col.data.type))
    return np.asarray(pc.fill_null(found, False).to_numpy(zero_copy_only=False), dtype=bool)


def _rlike(col: _Col, regex: str) -> np.ndarray:
    """``col RLIKE regex`` (Java ``find``) for patterns whose Python ``re`` meaning is provably the same."""
    plan = java_equivalent(regex)
    if plan is None:
        raise NotLocal(f"regex {regex!r} is outside the subset where Java's and Python's regexes agree")
    values = col.data.to_pylist()
    if plan.line_sensitive and any(v is not None and any(c in v for c in LINE_TERMINATORS) for v in values):
        raise NotLocal(f"regex {regex!r} uses '.' or '$' and a value contains a Java-only line terminator")
    search = re.compile(regex, re.ASCII).search
    return np.fromiter((v is not None and search(v) is not None for v in values), dtype=bool, count=len(values))


def _in_reference(col: _Col, ref: Any, ref_col: str) -> np.ndarray:
    """Non-null ``col`` values found among the referenced dataset's non-null ``ref_col`` values."""
    if hasattr(ref, "sparkSession"):
        raise NotLocal("the foreign key's reference is a Spark frame")
    if not isinstance(ref, pa.Table):
        if not hasattr(ref, "to_numpy") or not hasattr(ref, "columns"):
            raise NotLocal(f"the foreign key's reference is a {type(ref).__name__}")
        try:
            ref = pa.Table.from_pandas(ref, preserve_index=False)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise NotLocal(f"the foreign key's reference does not convert to Arrow: {exc}") from None
        if pa.types.is_floating(ref.schema.field(ref_col).type if ref_col in ref.column_names else pa.null()):
            raise NotLocal("a pandas float reference column: Spark's conversion of its NaN differs")
    if ref_col not in ref.column_names:
        raise NotLocal(f"the reference has no column {ref_col!r} (Spark's own message reports it)")
    ref_data = ref.column(ref_col).combine_chunks()
    ref_type = spark_type_of(ref_data.type)
    if ref_type is None or _family(ref_type) != _family(col.spark_type):
        raise NotLocal(f"the reference column {ref_col!r} ({ref_data.type}) is not of {col.name!r}'s type family")
    other = _Col(ref_col, ref_data, ref_type, np.asarray(pc.is_valid(ref_data).to_numpy(zero_copy_only=False)))
    if _family(ref_type) == "number":
        floats = not (col.integer and other.integer)
        keys = set(key_values(pc.cast(ref_data, pa.float64(), safe=False), "double")
                   if floats else ref_data.to_pylist())
        mine = (key_values(pc.cast(col.data, pa.float64(), safe=False), "double")
                if floats else col.data.to_pylist())
    else:
        if _family(ref_type) == "time" and ref_type != col.spark_type:
            raise NotLocal("a date column against a timestamp reference (Spark casts one to the other)")
        keys, mine = set(key_values(other.data, ref_type)), key_values(col.data, col.spark_type)
    keys.discard(None)
    return np.fromiter((v in keys for v in mine), dtype=bool, count=len(mine))


# ------------------------------------------------------------------------------------ examples as Spark


def _map_examples(rule: _Map) -> list[Any]:
    rows = np.flatnonzero(rule.unexpected)[:MAX_EXAMPLES]
    picked = [[json_value(v, c.spark_type) for v in c.data.take(pa.array(rows, pa.int64())).to_pylist()]
              for c in rule.shown]
    return [(a, b) for a, b in zip(*picked, strict=True)] if rule.shape == "pair" else picked[0]


def _unique_examples(rule: _Unique) -> list[Any]:
    """Like :func:`.fast_spark._unique_examples`; groups in first-occurrence order (Spark's order is arbitrary)."""
    dup = rule.dup
    values: list[Any] = []
    seen: set[tuple[Any, ...]] = set()
    for row in np.flatnonzero(dup):
        key = rule.keys[row]
        if key in seen:
            continue
        seen.add(key)
        shown = [collected_value(c.data[int(row)].as_py(), c.spark_type) for c in rule.cols]
        value = shown[0] if len(shown) == 1 else {c.name: v for c, v in zip(rule.cols, shown, strict=True)}
        values.extend([value] * min(rule.counts[key], MAX_EXAMPLES - len(values)))
        if len(values) >= MAX_EXAMPLES or len(seen) >= MAX_EXAMPLES:
            break
    return values


# --------------------------------------------------------------------------------------------- the API


def _types(table: pa.Table, spark_types: dict[str, str] | None) -> dict[str, str]:
    if spark_types is not None:
        return dict(spark_types)
    out = {}
    for field in table.schema:
        found = spark_type_of(field.type)
        out[field.name] = found if found is not None else f"arrow:{field.type}"
    return out


def compile_suite(
    table: pa.Table, expectations: list[dict[str, Any]], spark_types: dict[str, str] | None = None,
    lookup: Lookup | None = None,
) -> list[_Map | _Unique | ExpectationResult | None]:
    """One plan per expectation, as :func:`.fast_spark.compile_suite`; raises :class:`NotLocal`."""
    t = _Table(table, _types(table, spark_types))
    plans: list[_Map | _Unique | ExpectationResult | None] = []
    for i, exp in enumerate(expectations):
        if not S.fast_eligible(exp):
            plans.append(None)
            continue
        if exp["type"] == S.ROW_COUNT:
            plans.append(row_count_result(exp, t.rows))
            continue
        if exp["type"] != S.UNEXPECTED_ROWS:
            missing = _missing_column(t.types, exp)
            if missing:
                plans.append(error_result(exp, missing))
                continue
        try:
            plans.append(_compile(t, i, exp, lookup))
        except pa.ArrowException as exc:  # not an error Spark would report in these words
            raise NotLocal(f"Arrow cannot evaluate {exp['type']}: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            plans.append(error_result(exp, f"{type(exc).__name__}: {exc}"))
    return plans


def validate_local(
    table: pa.Table, expectations: list[dict[str, Any]], spark_types: dict[str, str],
    lookup: Lookup | None = None, *, examples: bool = True,
) -> list[ExpectationResult | None]:
    """:func:`validate`, raising :class:`NotLocal` (with the reason) instead of returning None."""
    total = table.num_rows
    out: list[ExpectationResult | None] = []
    for plan in compile_suite(table, expectations, spark_types, lookup):
        if isinstance(plan, _Map):
            considered = None if plan.domain is None else int(plan.domain.sum())
            res = map_result(plan.exp, total=total, considered=considered, unexpected=int(plan.unexpected.sum()),
                             examples=[])
            if examples and not res.success and res.unexpected_count:
                res.partial_unexpected_list = _map_examples(plan)
            out.append(res)
        elif isinstance(plan, _Unique):
            unexpected = int(plan.dup.sum())
            res = map_result(plan.exp, total=total, considered=int(plan.keep.sum()), unexpected=unexpected,
                             examples=[])
            if examples and not res.success and unexpected:
                res.partial_unexpected_list = _unique_examples(plan)
            out.append(res)
        else:
            out.append(plan)
    return out


def validate(
    table: pa.Table, expectations: list[dict[str, Any]], spark_types: dict[str, str],
    lookup: Lookup | None = None, *, examples: bool = True,
) -> list[ExpectationResult | None] | None:
    """:func:`.fast_spark.validate`'s results for ``table`` (``df.toArrow()``; ``spark_types`` = ``dict(df.dtypes)``).

    One result per expectation, None where great-expectations must validate it, as on Spark;
    None for the whole call when some expectation cannot be mirrored exactly (validate on Spark).
    Uniqueness examples hold the same values as Spark's (the same multiset whenever Spark's is
    determined, i.e. every duplicate group fits into the examples); their group order is Spark's
    arbitrary one there and first occurrence here.
    """
    try:
        return validate_local(table, expectations, spark_types, lookup, examples=examples)
    except NotLocal:
        return None


def split_rows(
    table: pa.Table, expectations: list[dict[str, Any]], indices: list[int], lookup: Lookup | None = None,
    *, spark_types: dict[str, str] | None = None,
) -> tuple[pa.Table, pa.Table]:
    """:func:`.fast_spark.split_rows` on ``table``: (passing rows, rejected rows + ``_nbpipe_reason``).

    Rows keep their table order. Raises :class:`NotLocal` when a chosen expectation cannot be
    mirrored exactly (split on Spark then).
    """
    chosen = [e if i in indices else {"type": "_skip", "kwargs": {}} for i, e in enumerate(expectations)]
    reasons: list[tuple[np.ndarray, str]] = []
    for plan in compile_suite(table, chosen, spark_types, lookup):
        if isinstance(plan, _Map):
            reasons.append((plan.unexpected, plan.exp["type"]))
        elif isinstance(plan, _Unique):
            reasons.append((plan.dup, plan.exp["type"]))
    if not reasons:
        return table, table.slice(0, 0).append_column(pa.field(REASON, pa.string()), pa.array([], pa.string()))
    bad = np.logical_or.reduce([mask for mask, _ in reasons])
    rows = np.flatnonzero(bad)
    flags = [mask[rows].tolist() for mask, _ in reasons]
    text = [",".join(name for (_, name), hit in zip(reasons, hits, strict=True) if hit)
            for hits in zip(*flags, strict=True)] if len(rows) else []
    passing = table.filter(pa.array(~bad))
    rejected = table.filter(pa.array(bad)).append_column(pa.field(REASON, pa.string()), pa.array(text, pa.string()))
    return passing, rejected
