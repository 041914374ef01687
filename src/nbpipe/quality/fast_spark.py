"""Spark fast path: a whole suite in one Spark action instead of GX's dozens of jobs.

Every column-map rule becomes a boolean Spark expression, built exactly as great-
expectations' Spark engine builds it (same operators, so the same null and NaN semantics:
only SQL NULL is missing; a comparison that yields NULL is not unexpected), and is counted
with ``count(when(...))`` in one aggregation. Uniqueness rules are exact ``GROUP BY`` counts
(never ``approx_count_distinct``); foreign keys are one left join against the referenced
dataset's distinct keys. All partial aggregates are cross-joined into a single one-row
result, so the data is scanned in one job. Examples (``partial_unexpected_list``) are
fetched with small ``LIMIT`` queries only for expectations that failed.

The kwargs compiled are the ones great-expectations built (:mod:`.gx_model`). Whatever Spark
still refuses (a regex Java cannot compile, a literal outside Spark's types, a predicate that
does not analyse) fails that expectation alone, as GX does: regexes are compiled on the JVM
first, and if the one aggregation fails anyway each rule is evaluated on its own to find the
culprits.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nbpipe.core.layout import REASON
from nbpipe.errors import did_you_mean
from nbpipe.quality import suites as S
from nbpipe.quality.results import (
    MAX_EXAMPLES,
    ExpectationResult,
    error_result,
    map_result,
    row_count_result,
)
from nbpipe.quality.spark_errors import Refused, java_regex_error, spark_errors, spark_message

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame

Lookup = Callable[[str], Any]
REASON_COLUMN = REASON  # the quarantine's reason column (nbpipe.core.layout)
_NUMERIC = ("tinyint", "smallint", "int", "bigint", "float", "double", "decimal", "byte", "short", "long")


def _c(name: str) -> Column:
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def _family(spark_type: str) -> str:
    t = spark_type.lower()
    if t.startswith(_NUMERIC):
        return "number"
    if t in ("string",) or t.startswith(("varchar", "char")):
        return "string"
    if t in ("date", "timestamp", "timestamp_ntz"):
        return "time"
    if t == "boolean":
        return "bool"
    return "other"


def _literal_family(values: list[Any]) -> str | None:
    fams = set()
    for v in values:
        if v is None:
            continue
        if isinstance(v, bool):
            fams.add("bool")
        elif isinstance(v, (int, float)):
            fams.add("number")
        elif isinstance(v, str):
            fams.add("string")
        else:
            return None
    return fams.pop() if len(fams) == 1 else ("any" if not fams else None)


@dataclass
class _MapRule:
    index: int
    exp: dict[str, Any]
    unexpected: Column
    domain: Column | None  # None: all rows, percent over all rows (not_be_null)
    examples: list[Column]
    shape: str = "value"  # value | pair | record


@dataclass
class _UniqueRule:
    index: int
    exp: dict[str, Any]
    keys: list[str]
    ignore: str  # nonnull | all_values_are_missing | any_value_is_missing | never


def _between(col: Column, kw: dict[str, Any]) -> Column:
    from pyspark.sql import functions as F

    lo, hi = kw.get("min_value"), kw.get("max_value")
    conds = []
    if lo is not None:
        conds.append(col > F.lit(lo) if kw.get("strict_min") else col >= F.lit(lo))
    if hi is not None:
        conds.append(col < F.lit(hi) if kw.get("strict_max") else col <= F.lit(hi))
    return conds[0] if len(conds) == 1 else conds[0] & conds[1]


def _bounds(kw: dict[str, Any], *, integers: bool = False) -> bool:
    lo, hi = kw.get("min_value"), kw.get("max_value")
    if lo is None and hi is None:
        return False
    for v in (lo, hi):
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return False
        if integers and not float(v).is_integer():
            return False
    return not (lo is not None and hi is not None and lo > hi)


def _missing_column(types: dict[str, str], exp: dict[str, Any]) -> str | None:
    kw = exp["kwargs"]
    names = [kw[k] for k in ("column", "column_A", "column_B") if k in kw] + list(kw.get("column_list") or [])
    for name in names:
        if name not in types:
            return (f"column {name!r} is not in the DataFrame{did_you_mean(str(name), types)}; "
                    f"columns: {', '.join(types)}")
    return None


def _compile(
    df: DataFrame, i: int, exp: dict[str, Any], types: dict[str, str], lookup: Lookup | None
) -> tuple[DataFrame, _MapRule | _UniqueRule | None]:
    """Compile expectation ``i``; may return ``df`` joined with a foreign-key reference."""
    from pyspark.sql import functions as F

    t, kw = exp["type"], exp["kwargs"]
    cond: Column
    if t == S.UNEXPECTED_ROWS:
        where = S.where_condition(str(kw.get("unexpected_rows_query", "")))
        if where is None:
            return df, None
        return df, _MapRule(i, exp, F.expr(where), F.lit(True), [F.struct(*[_c(n) for n in types])], "record")
    if t == S.NOT_NULL:
        col = _c(kw["column"])
        return df, _MapRule(i, exp, col.isNull(), None, [col])
    if t == S.UNIQUE:
        return df, _UniqueRule(i, exp, [kw["column"]], "nonnull")
    if t == S.COMPOUND_UNIQUE:
        rule = kw.get("ignore_row_if", "all_values_are_missing")
        if rule not in ("all_values_are_missing", "any_value_is_missing", "never"):
            return df, None
        return df, _UniqueRule(i, exp, list(kw["column_list"]), rule)
    if t == S.PAIR_GREATER:
        a, b = _c(kw["column_A"]), _c(kw["column_B"])
        fa, fb = _family(types[kw["column_A"]]), _family(types[kw["column_B"]])
        if fa != fb or fa not in ("number", "string", "time"):
            return df, None
        rule = kw.get("ignore_row_if", "both_values_are_missing")
        if rule == "both_values_are_missing":
            domain = ~(a.isNull() & b.isNull())
        elif rule == "either_value_is_missing":
            domain = a.isNotNull() & b.isNotNull()
        elif rule == "neither":
            domain = F.lit(True)
        else:
            return df, None
        cond = ((a >= b) | a.eqNullSafe(b)) if kw.get("or_equal") else (a > b)
        return df, _MapRule(i, exp, domain & ~cond, domain, [a, b], "pair")
    col_name = kw["column"]
    col = _c(col_name)
    family = _family(types[col_name])
    if t == S.BETWEEN:
        if family != "number" or not _bounds(kw):
            return df, None
        cond = _between(col, kw)
    elif t == S.IN_SET:
        values = kw.get("value_set")
        if values is None:
            cond = F.lit(True)
        else:
            if not isinstance(values, (list, tuple, set)):
                return df, None
            fam = _literal_family(list(values))
            if fam is None or (fam != "any" and fam != family):
                return df, None
            cond = col.isin(list(values))
    elif t == S.REGEX:
        if family != "string" or not isinstance(kw.get("regex"), str):
            return df, None
        refused = java_regex_error(df, kw["regex"])
        if refused:
            raise Refused(f"Spark's (Java) regex engine cannot compile {kw['regex']!r}: {refused}")
        cond = col.rlike(kw["regex"])
    elif t == S.LENGTHS:
        if family != "string" or not _bounds(kw, integers=True):
            return df, None
        cond = _between(F.length(col), kw)
    elif t == S.FK_TYPE:
        if lookup is None:
            raise KeyError(f"no DataFrame registry to resolve dataset {kw.get('dataset')!r}")
        ref_col = kw.get("dataset_column") or col_name
        alias = f"_nbpipe_fk{i}"
        ref = lookup(kw["dataset"])
        if not hasattr(ref, "sparkSession"):
            ref = df.sparkSession.createDataFrame(ref)
        keys = ref.select(_c(ref_col).alias(alias)).where(F.col(alias).isNotNull()).distinct()
        df = df.join(keys, on=col == F.col(alias), how="left")
        cond = F.col(alias).isNotNull()
    else:
        return df, None
    domain = col.isNotNull()
    return df, _MapRule(i, exp, domain & ~cond, domain, [col])


def _unique_keep(rule: _UniqueRule) -> Column:
    """Rows (groups) that belong to a uniqueness rule's domain."""
    from pyspark.sql import functions as F

    cols = [_c(k) for k in rule.keys]
    if rule.ignore == "nonnull":
        return cols[0].isNotNull()
    if rule.ignore == "all_values_are_missing":
        cond = cols[0].isNotNull()
        for c in cols[1:]:
            cond = cond | c.isNotNull()
        return cond
    if rule.ignore == "any_value_is_missing":
        cond = cols[0].isNotNull()
        for c in cols[1:]:
            cond = cond & c.isNotNull()
        return cond
    return F.lit(True)


def _unique_groups(df: DataFrame, rule: _UniqueRule) -> DataFrame:
    from pyspark.sql import functions as F

    return df.groupBy(*[_c(k) for k in rule.keys]).agg(F.count(F.lit(1)).alias("_nbpipe_n"))


def compile_suite(
    df: DataFrame, expectations: list[dict[str, Any]], lookup: Lookup | None = None
) -> tuple[DataFrame, list[_MapRule | _UniqueRule | ExpectationResult | None]]:
    """Compile the fast-path expectations; return the (possibly FK-joined) frame and one plan per item.

    Each plan is a rule, a ready result (row counts are filled in later; errors now), or None
    when great-expectations has to validate the expectation.
    """
    types = dict(df.dtypes)
    work = df
    plans: list[_MapRule | _UniqueRule | ExpectationResult | None] = []
    for i, exp in enumerate(expectations):
        if not S.fast_eligible(exp):
            plans.append(None)
            continue
        if exp["type"] == S.ROW_COUNT:
            plans.append(row_count_result(exp, 0))  # placeholder, replaced with the real count
            continue
        if exp["type"] != S.UNEXPECTED_ROWS:
            missing = _missing_column(types, exp)
            if missing:
                plans.append(error_result(exp, missing))
                continue
        try:
            work, rule = _compile(work, i, exp, types, lookup)
        except (KeyError, TypeError, ValueError) as exc:
            plans.append(error_result(exp, f"{type(exc).__name__}: {exc}"))
            continue
        except Refused as exc:
            plans.append(error_result(exp, str(exc)))
            continue
        except spark_errors() as exc:
            plans.append(error_result(exp, f"Spark refuses it: {spark_message(exc)}"))
            continue
        plans.append(rule)
    return work, plans


def validate(
    df: DataFrame, expectations: list[dict[str, Any]], lookup: Lookup | None = None,
    *, examples: bool = True,
) -> list[ExpectationResult | None]:
    """Validate ``expectations`` on ``df`` in one Spark action (plus LIMIT queries for examples).

    Returns one result per expectation, None where great-expectations must validate it.
    """
    work, plans = compile_suite(df, expectations, lookup)
    maps = [p for p in plans if isinstance(p, _MapRule)]
    uniques = [p for p in plans if isinstance(p, _UniqueRule)]
    if not any(isinstance(p, (_MapRule, _UniqueRule)) for p in plans) and not any(
        isinstance(p, ExpectationResult) and p.expectation_type == S.ROW_COUNT for p in plans
    ):
        return [p if isinstance(p, ExpectationResult) else None for p in plans]
    row, broken = _aggregate_isolating(df, work, maps, uniques)
    total = int(row["n"])
    out: list[ExpectationResult | None] = []
    wanted: list[_MapRule] = []
    for plan in plans:
        if isinstance(plan, ExpectationResult):
            if plan.expectation_type == S.ROW_COUNT and plan.exception is None:
                exp = expectations[len(out)]
                plan = row_count_result(exp, total)
            out.append(plan)
        elif isinstance(plan, (_MapRule, _UniqueRule)) and plan.index in broken:
            out.append(error_result(plan.exp, f"Spark could not evaluate it: {broken[plan.index]}"))
        elif isinstance(plan, _MapRule):
            res = _map_result(plan, total, row)
            if examples and not res.success and res.unexpected_count:
                wanted.append(plan)
            out.append(res)
        elif isinstance(plan, _UniqueRule):
            unexpected = int(row[f"u{plan.index}"])
            considered = int(row[f"d{plan.index}"])
            res = map_result(plan.exp, total=total, considered=considered, unexpected=unexpected, examples=[])
            if examples and not res.success and unexpected:
                try:
                    res.partial_unexpected_list = _unique_examples(df, plan)
                except spark_errors():  # the counts stand; only the examples are missing
                    pass
            out.append(res)
        else:
            out.append(None)
    for index, values in _map_examples(work, wanted).items():
        found = out[index]
        if found is not None:
            found.partial_unexpected_list = values
    return out


def _aggregate(base: DataFrame, df: DataFrame, maps: list[_MapRule], uniques: list[_UniqueRule]) -> dict[str, Any]:
    """Count rows, and per rule its unexpected and domain rows, in one Spark job."""
    from pyspark.sql import functions as F

    aggs = [F.count(F.lit(1)).alias("n")]
    for rule in maps:
        aggs.append(F.count(F.when(rule.unexpected, True)).alias(f"u{rule.index}"))
        if rule.domain is not None:
            aggs.append(F.count(F.when(rule.domain, True)).alias(f"d{rule.index}"))
    combined = base.agg(*aggs)
    for urule in uniques:
        groups = _unique_groups(df, urule)
        keep = _unique_keep(urule)
        part = groups.agg(
            F.coalesce(F.sum(F.when(keep & (F.col("_nbpipe_n") > 1), F.col("_nbpipe_n"))), F.lit(0))
            .alias(f"u{urule.index}"),
            F.coalesce(F.sum(F.when(keep, F.col("_nbpipe_n"))), F.lit(0)).alias(f"d{urule.index}"),
        )
        combined = combined.crossJoin(part)
    return dict(combined.collect()[0].asDict())


def _aggregate_isolating(
    df: DataFrame, work: DataFrame, maps: list[_MapRule], uniques: list[_UniqueRule]
) -> tuple[dict[str, Any], dict[int, str]]:
    """:func:`_aggregate` over all rules; if Spark refuses that, each rule alone.

    Returns the counts and, per rule Spark refused on its own, the reason. A frame that cannot
    even be counted is not a rule's fault: that error propagates.
    """
    try:
        return _aggregate(work, df, maps, uniques), {}
    except spark_errors():
        pass
    row: dict[str, Any] = {"n": df.count()}
    broken: dict[int, str] = {}
    for rule in maps:
        try:
            # Only a foreign key needs the joined frame; the others run on the frame itself so a
            # broken reference cannot take them down too.
            row.update(_aggregate(work if rule.exp["type"] == S.FK_TYPE else df, df, [rule], []))
        except spark_errors() as exc:
            broken[rule.index] = spark_message(exc)
    for urule in uniques:
        try:
            row.update(_aggregate(df, df, [], [urule]))
        except spark_errors() as exc:
            broken[urule.index] = spark_message(exc)
    return row, broken


def _map_result(rule: _MapRule, total: int, row: dict[str, Any]) -> ExpectationResult:
    unexpected = int(row[f"u{rule.index}"])
    if rule.exp["type"] == S.UNEXPECTED_ROWS:
        return ExpectationResult(
            expectation_type=rule.exp["type"], kwargs=dict(rule.exp["kwargs"]), success=unexpected == 0,
            observed_value=unexpected, unexpected_count=unexpected,
            unexpected_percent=unexpected / total * 100 if total else None, element_count=total,
            meta=dict(rule.exp.get("meta") or {}),
        )
    considered = None if rule.domain is None else int(row[f"d{rule.index}"])
    return map_result(rule.exp, total=total, considered=considered, unexpected=unexpected, examples=[])


def _map_examples(work: DataFrame, rules: list[_MapRule]) -> dict[int, list[Any]]:
    """Up to 20 offending values per failed rule: one small ``LIMIT`` query per rule, run concurrently.

    A ``LIMIT`` query collected on its own scans partitions incrementally and stops once it has its
    rows, so it reads a sliver of the data; a UNION of limits would start a task on every partition
    for every rule.
    """
    from concurrent.futures import ThreadPoolExecutor

    from pyspark.sql import functions as F

    def fetch(rule: _MapRule) -> list[Any]:
        shown = F.to_json(F.struct(*[c.alias(f"v{j}") for j, c in enumerate(rule.examples)])).alias("v")
        values: list[Any] = []
        try:
            found_rows = work.where(rule.unexpected).select(shown).limit(MAX_EXAMPLES).collect()
        except spark_errors():  # the counts stand; only the examples are missing
            return []
        for r in found_rows:
            record = json.loads(r["v"]) if r["v"] else {}
            found = [record.get(f"v{j}") for j in range(len(rule.examples))]
            values.append((found[0], found[1]) if rule.shape == "pair" else found[0])
        return values

    if not rules:
        return {}
    with ThreadPoolExecutor(max_workers=min(len(rules), 4), thread_name_prefix="nbpipe-examples") as pool:
        return dict(zip([rule.index for rule in rules], pool.map(fetch, rules), strict=True))


def _unique_examples(df: DataFrame, rule: _UniqueRule) -> list[Any]:
    from pyspark.sql import functions as F

    groups = _unique_groups(df, rule).where(_unique_keep(rule) & (F.col("_nbpipe_n") > 1))
    values: list[Any] = []
    for r in groups.limit(MAX_EXAMPLES).collect():
        value = r[0] if len(rule.keys) == 1 else {k: r[k] for k in rule.keys}
        values.extend([value] * min(int(r["_nbpipe_n"]), MAX_EXAMPLES - len(values)))
        if len(values) >= MAX_EXAMPLES:
            break
    return values


def split_rows(
    df: DataFrame, expectations: list[dict[str, Any]], indices: list[int], lookup: Lookup | None = None
) -> tuple[DataFrame, DataFrame]:
    """Split ``df`` into rows passing and rows failing the row-level expectations ``indices``.

    The failing rows get a ``_nbpipe_reason`` column: the names of the expectations they broke,
    comma-separated. Both frames are lazy; nothing is computed here.
    """
    from pyspark.sql import functions as F

    chosen = [e if i in indices else {"type": "_skip", "kwargs": {}} for i, e in enumerate(expectations)]
    work, plans = compile_suite(df, chosen, lookup)
    reasons: list[Column] = []
    for step in plans:
        if isinstance(step, _MapRule):
            reasons.append(F.when(F.coalesce(step.unexpected, F.lit(False)), F.lit(step.exp["type"])))
        elif isinstance(step, _UniqueRule):
            flag = f"_nbpipe_dup{step.index}"
            keys = _unique_groups(df, step).where(_unique_keep(step) & (F.col("_nbpipe_n") > 1))
            keys = keys.select(*[_c(k).alias(f"{flag}_{j}") for j, k in enumerate(step.keys)],
                               F.lit(True).alias(flag))
            cond = None
            for j, k in enumerate(step.keys):
                eq = _c(k).eqNullSafe(F.col(f"{flag}_{j}"))
                cond = eq if cond is None else cond & eq
            work = work.join(keys, on=cond, how="left")
            reasons.append(F.when(F.col(flag).isNotNull(), F.lit(step.exp["type"])))
    original = [_c(n) for n in df.columns]
    if not reasons:
        return df, df.limit(0).withColumn(REASON_COLUMN, F.lit(""))
    tagged = work.withColumn(REASON_COLUMN, F.concat_ws(",", *reasons))
    passing = tagged.where(F.col(REASON_COLUMN) == "").select(*original)
    rejected = tagged.where(F.col(REASON_COLUMN) != "").select(*original, F.col(REASON_COLUMN))
    return passing, rejected
