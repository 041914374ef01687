"""Data profiles and suggested suites: what ``nbpipe promote`` freezes from an explored frame.

``profile_dataframe`` measures a Spark or pandas DataFrame in two passes (one aggregation for
null counts, min/max, exact distinct counts and string lengths; one grouped count for the top
values of low-cardinality columns). ``suggest_suite`` turns a profile into GX expectations
marked ``meta: {"nbpipe": "suggested"}``; ``merge_suites`` refreshes only those, never
touching what a person wrote.
"""

from __future__ import annotations

import math
from typing import Any

from nbpipe.quality import suites as S
from nbpipe.quality.native import is_spark_frame
from nbpipe.quality.results import jsonable

SUGGESTED = "suggested"
TOP_VALUES = 20


def _spark_kind(spark_type: str) -> str:
    from nbpipe.quality.fast_spark import _family

    return _family(spark_type)


def _distinct_counts(df: Any, indices: list[int], names: list[str]) -> dict[str, int]:
    """Exact distinct counts ``{"d<i>": n}``, one small job per column, a few at a time.

    Several ``count(DISTINCT)`` in one aggregation make Spark expand every row once per column
    before its shuffle (20 columns: 20 copies of the table); one job per column shuffles only
    that column's values (benchmarks/quality_gate.py: 267 s -> 61 s for 20 columns of 200k rows).
    """
    from concurrent.futures import ThreadPoolExecutor

    from pyspark.sql import functions as F

    from nbpipe.quality.fast_spark import _c

    def count(i: int) -> tuple[str, int]:
        return f"d{i}", int(df.agg(F.count_distinct(_c(names[i]))).collect()[0][0])

    if not indices:
        return {}
    with ThreadPoolExecutor(max_workers=min(4, len(indices)), thread_name_prefix="nbpipe-profile") as pool:
        return dict(pool.map(count, indices))


def _profile_spark(df: Any, top: int) -> dict[str, Any]:
    from pyspark.sql import functions as F

    from nbpipe.quality.fast_spark import _c

    types = dict(df.dtypes)
    aggs = [F.count(F.lit(1)).alias("__rows")]
    for i, (name, spark_type) in enumerate(types.items()):
        kind = _spark_kind(spark_type)
        col = _c(name)
        aggs.append(F.count(col).alias(f"nn{i}"))
        if kind in ("number", "time", "string"):
            aggs += [F.min(col).alias(f"min{i}"), F.max(col).alias(f"max{i}")]
        if kind == "string":
            aggs += [F.min(F.length(col)).alias(f"minl{i}"), F.max(F.length(col)).alias(f"maxl{i}")]
    row = df.agg(*aggs).collect()[0].asDict()
    row.update(_distinct_counts(df, [i for i, t in enumerate(types.values()) if _spark_kind(t) != "other"],
                                list(types)))
    rows = int(row["__rows"])
    columns: dict[str, Any] = {}
    for i, (name, spark_type) in enumerate(types.items()):
        kind = _spark_kind(spark_type)
        nulls = rows - int(row[f"nn{i}"])
        info: dict[str, Any] = {"type": spark_type, "kind": kind, "nulls": nulls,
                                "null_fraction": nulls / rows if rows else 0.0,
                                "distinct": row.get(f"d{i}")}
        for key in ("min", "max", "minl", "maxl"):
            if f"{key}{i}" in row:
                info[{"minl": "min_length", "maxl": "max_length"}.get(key, key)] = row[f"{key}{i}"]
        columns[name] = info
    small = [n for n, c in columns.items() if c["kind"] in ("string", "bool", "number")
             and c.get("distinct") is not None and 0 < c["distinct"] <= top]
    if small:
        stacked = df.select(F.explode(F.array(*[
            F.struct(F.lit(n).alias("c"), _c(n).cast("string").alias("v")) for n in small])).alias("s"))
        counts = stacked.groupBy("s.c", "s.v").count().collect()
        by_col: dict[str, list[tuple[Any, int]]] = {}
        for r in counts:
            if r["v"] is not None:
                by_col.setdefault(r["c"], []).append((r["v"], int(r["count"])))
        for n in small:
            pairs = sorted(by_col.get(n, []), key=lambda p: (-p[1], str(p[0])))[:top]
            if columns[n]["kind"] != "string":
                pairs = []  # values came back as text; only string sets are suggested
            columns[n]["top_values"] = [{"value": v, "count": c} for v, c in pairs]
    return {"rows": rows, "columns": columns}


def _profile_pandas(df: Any, top: int) -> dict[str, Any]:
    import pandas as pd

    rows = len(df)
    columns: dict[str, Any] = {}
    for name in df.columns:
        s = df[name]
        if pd.api.types.is_bool_dtype(s):
            kind = "bool"
        elif pd.api.types.is_numeric_dtype(s):
            kind = "number"
        elif pd.api.types.is_datetime64_any_dtype(s):
            kind = "time"
        elif s.dropna().map(lambda v: isinstance(v, str)).all():
            kind = "string"
        else:
            kind = "other"
        values = s.dropna()
        nulls = int(rows - len(values))
        info: dict[str, Any] = {"type": str(s.dtype), "kind": kind, "nulls": nulls,
                                "null_fraction": nulls / rows if rows else 0.0}
        try:
            info["distinct"] = int(values.nunique())
        except TypeError:
            info["distinct"] = None
        if kind in ("number", "time", "string") and len(values):
            info["min"], info["max"] = values.min(), values.max()
        if kind == "string" and len(values):
            lengths = values.str.len()
            info["min_length"], info["max_length"] = int(lengths.min()), int(lengths.max())
        if kind == "string" and info["distinct"] is not None and 0 < info["distinct"] <= top:
            counts = values.value_counts()
            pairs = sorted(counts.items(), key=lambda p: (-p[1], str(p[0])))[:top]
            info["top_values"] = [{"value": v, "count": int(c)} for v, c in pairs]
        columns[str(name)] = info
    return {"rows": rows, "columns": columns}


def profile_dataframe(df: Any, *, top: int = TOP_VALUES) -> dict[str, Any]:
    """Profile a Spark or pandas DataFrame (exact counts; JSON-safe result).

    Returns:
        ``{"rows": n, "columns": {name: {type, kind, nulls, null_fraction, distinct, min, max,
        min_length, max_length, top_values}}, "key_candidates": [[name], ...]}``. Distinct counts
        are exact (``count(DISTINCT)``), so key candidates are real.
    """
    prof = _profile_spark(df, top) if is_spark_frame(df) else _profile_pandas(df, top)
    rows = prof["rows"]
    prof["key_candidates"] = [
        [n] for n, c in prof["columns"].items()
        if rows > 0 and c["nulls"] == 0 and c.get("distinct") == rows and c["kind"] in ("number", "string")
    ]
    return jsonable(prof)


def _widen(lo: float, hi: float, margin: float) -> tuple[float, float]:
    span = hi - lo
    pad = span * margin if span > 0 else max(abs(lo), abs(hi), 1.0) * margin
    low, high = lo - pad, hi + pad
    if isinstance(lo, int) and isinstance(hi, int):
        return math.floor(low), math.ceil(high)
    return low, high


def _exp(etype: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": etype, "kwargs": kwargs, "meta": {"nbpipe": SUGGESTED}, "severity": "critical"}


def suggest_suite(name: str, profile: dict[str, Any], *, margin: float = 0.1,
                  max_set_size: int = 20) -> dict[str, Any]:
    """Suggest a GX suite from a profile: not-null, widened ranges, small sets, keys, row count.

    Args:
        name: Suite name (usually the dataset name).
        profile: Output of :func:`profile_dataframe`.
        margin: Fraction by which observed ranges and the row count are widened.
        max_set_size: String columns with at most this many distinct values get a value set.
    """
    rows = int(profile.get("rows", 0))
    exps = [_exp(S.ROW_COUNT, min_value=max(0, math.floor(rows * (1 - margin))),
                 max_value=math.ceil(rows * (1 + margin)))]
    keys = {tuple(k) for k in profile.get("key_candidates", [])}
    for col, info in profile.get("columns", {}).items():
        if rows and info.get("nulls") == 0:
            exps.append(_exp(S.NOT_NULL, column=col))
        kind = info.get("kind")
        lo, hi = info.get("min"), info.get("max")
        if kind == "number" and isinstance(lo, (int, float)) and isinstance(hi, (int, float)):
            low, high = _widen(lo, hi, margin)
            exps.append(_exp(S.BETWEEN, column=col, min_value=low, max_value=high))
        values = info.get("top_values")
        complete = bool(values) and info.get("distinct") == len(values)
        if kind == "string" and complete and len(values) <= max_set_size and (col,) not in keys:
            exps.append(_exp(S.IN_SET, column=col, value_set=sorted(v["value"] for v in values)))
        if (col,) in keys:
            exps.append(_exp(S.UNIQUE, column=col))
    return S.new_suite(name, exps, meta={"nbpipe": {"generated": "suggest_suite", "rows_profiled": rows,
                                                    "margin": margin}})


def _domain(exp: dict[str, Any]) -> tuple[str, str]:
    kw = exp.get("kwargs", {})
    cols = kw.get("column") or kw.get("column_list") or [kw.get("column_A"), kw.get("column_B")]
    return exp.get("type", ""), repr(cols)


def _is_suggested(exp: dict[str, Any]) -> bool:
    return (exp.get("meta") or {}).get("nbpipe") == SUGGESTED


def merge_suites(existing: dict[str, Any], suggested: dict[str, Any]) -> dict[str, Any]:
    """Refresh the suggested expectations of ``existing``; keep every user-written one unchanged.

    Expectations of ``existing`` without ``meta.nbpipe == "suggested"`` are kept as they are, in
    place. Old suggested ones are replaced by the new suggestions, except where a user-written
    expectation already covers the same type and column(s).
    """
    base = S.validate_suite(existing, "existing suite")
    new = S.validate_suite(suggested, "suggested suite")
    user = [e for e in base["expectations"] if not _is_suggested(e)]
    taken = {_domain(e) for e in user}
    fresh = [e for e in new["expectations"] if _is_suggested(e) and _domain(e) not in taken]
    merged = dict(base)
    merged["expectations"] = user + fresh
    meta = dict(base.get("meta") or {})
    if "nbpipe" in (new.get("meta") or {}):
        meta["nbpipe"] = new["meta"]["nbpipe"]
    merged["meta"] = meta
    return merged
