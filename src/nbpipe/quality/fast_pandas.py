"""Vectorised pandas fast path: GX column-map semantics without GX's per-metric overhead.

Each supported expectation becomes a pair of boolean masks over the frame (rows in the
domain, rows unexpected) computed with pandas vector operations, following great-
expectations' pandas engine exactly: ``isna`` is missing, map rules ignore missing values,
pair and multicolumn rules honour ``ignore_row_if``. Expectations this module cannot mirror
exactly (other dtypes, odd kwargs) are returned as unsupported and go to GX itself.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

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

Lookup = Callable[[str], Any]


@dataclass
class RowRule:
    """An expectation compiled to row masks."""

    domain: pd.Series | None  # None: every row counts and no missing_count (not_be_null)
    unexpected: pd.Series
    examples: Callable[[pd.Series], list[Any]]


def _is_int(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)
                             and float(value).is_integer())


def _bounds_ok(kwargs: dict[str, Any]) -> bool:
    lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
    if lo is None and hi is None:
        return False
    num = (int, float)
    if any(v is not None and (isinstance(v, bool) or not isinstance(v, num)) for v in (lo, hi)):
        return False
    return not (lo is not None and hi is not None and lo > hi)


def _between(series: pd.Series, kwargs: dict[str, Any]) -> pd.Series:
    lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
    ok = pd.Series(True, index=series.index)
    if lo is not None:
        ok &= series > lo if kwargs.get("strict_min") else series >= lo
    if hi is not None:
        ok &= series < hi if kwargs.get("strict_max") else series <= hi
    return ok


def _scatter(domain: pd.Series, flags: np.ndarray) -> pd.Series:
    """A full-length boolean mask: ``flags`` at the rows of ``domain``, False elsewhere."""
    out = np.zeros(len(domain), dtype=bool)
    out[domain.to_numpy(dtype=bool)] = flags
    return pd.Series(out, index=domain.index)


def _values(series: pd.Series) -> Callable[[pd.Series], list[Any]]:
    return lambda mask: series[mask].head(MAX_EXAMPLES).tolist()


def compile_rule(df: pd.DataFrame, exp: dict[str, Any], lookup: Lookup | None) -> RowRule | None:
    """Compile one row-level expectation into masks; None when GX must handle it."""
    t, kw = exp["type"], exp["kwargs"]
    if t == S.NOT_NULL:
        col = df[kw["column"]]
        return RowRule(None, col.isna(), _values(col))
    if t in (S.BETWEEN, S.IN_SET, S.REGEX, S.LENGTHS, S.UNIQUE, S.FK_TYPE):
        col = df[kw["column"]]
        domain = col.notna()
        values = col[domain]
        if t == S.BETWEEN:
            if col.dtype not in (int, float) or not _bounds_ok(kw):
                return None
            cond = _between(values, kw)
        elif t == S.IN_SET:
            value_set = kw.get("value_set")
            if value_set is not None and not isinstance(value_set, (list, tuple, set)):
                return None
            cond = pd.Series(True, index=values.index) if value_set is None else values.isin(list(value_set))
        elif t == S.REGEX:
            regex = kw.get("regex")
            if not isinstance(regex, str):
                return None
            try:
                re.compile(regex)
            except re.error:
                return None
            with warnings.catch_warnings():  # a pattern with groups is still just a pattern here
                warnings.filterwarnings("ignore", "This pattern is interpreted as a regular expression",
                                        UserWarning)
                cond = values.astype(str).str.contains(regex)
        elif t == S.LENGTHS:
            if not _bounds_ok(kw) or not (_is_int(kw.get("min_value")) and _is_int(kw.get("max_value"))):
                return None
            cond = _between(values.astype(str).str.len(), kw)
        elif t == S.UNIQUE:
            cond = ~values.duplicated(keep=False)
        else:
            if lookup is None:
                raise KeyError(f"no DataFrame registry to resolve dataset {kw.get('dataset')!r}")
            reference = lookup(kw["dataset"])
            cond = values.isin(_reference_values(reference, kw.get("dataset_column") or kw["column"]))
        return RowRule(domain, _scatter(domain, ~cond.to_numpy(dtype=bool)), _values(col))
    if t == S.PAIR_GREATER:
        a, b = df[kw["column_A"]], df[kw["column_B"]]
        rule = kw.get("ignore_row_if", "both_values_are_missing")
        if rule == "both_values_are_missing":
            domain = ~(a.isna() & b.isna())
        elif rule == "either_value_is_missing":
            domain = ~(a.isna() | b.isna())
        elif rule == "neither":
            domain = pd.Series(True, index=df.index)
        else:
            return None
        cond = a[domain] >= b[domain] if kw.get("or_equal") else a[domain] > b[domain]
        unexpected = _scatter(domain, ~cond.to_numpy(dtype=bool))
        return RowRule(domain, unexpected,
                       lambda m: list(zip(a[m].head(MAX_EXAMPLES), b[m].head(MAX_EXAMPLES))))
    if t == S.COMPOUND_UNIQUE:
        cols = list(kw["column_list"])
        frame = df[cols]
        rule = kw.get("ignore_row_if", "all_values_are_missing")
        nulls = frame.isna()
        if rule == "all_values_are_missing":
            domain = ~nulls.all(axis=1)
        elif rule == "any_value_is_missing":
            domain = ~nulls.any(axis=1)
        elif rule == "never":
            domain = pd.Series(True, index=df.index)
        else:
            return None
        unexpected = _scatter(domain, frame[domain].duplicated(keep=False).to_numpy(dtype=bool))
        return RowRule(domain, unexpected, lambda m: frame[m].head(MAX_EXAMPLES).to_dict("records"))
    return None


def _reference_values(ref: Any, column: str) -> np.ndarray:
    if isinstance(ref, pd.DataFrame):
        return ref[column].dropna().unique()
    if hasattr(ref, "toPandas") and hasattr(ref, "select"):  # a Spark DataFrame
        rows = ref.select(column).where(f"`{column}` IS NOT NULL").distinct().collect()
        return np.array([r[0] for r in rows], dtype=object)
    raise TypeError(f"cannot read reference values from {type(ref).__name__}")


def _missing_columns(df: pd.DataFrame, exp: dict[str, Any]) -> str | None:
    kw = exp["kwargs"]
    names: list[Any] = []
    for key in ("column", "column_A", "column_B"):
        if key in kw:
            names.append(kw[key])
    names.extend(kw.get("column_list") or [])
    for name in names:
        if name not in df.columns:
            hint = did_you_mean(str(name), map(str, df.columns))
            return (f"column {name!r} is not in the DataFrame{hint}; "
                    f"columns: {', '.join(map(str, df.columns))}")
    return None


def validate(
    df: pd.DataFrame, expectations: list[dict[str, Any]], lookup: Lookup | None = None
) -> tuple[list[ExpectationResult | None], dict[int, pd.Series]]:
    """Validate ``expectations`` on ``df``.

    Returns:
        One result per expectation (None where GX must validate it instead) and, per index of a
        row-level expectation, the boolean mask of its unexpected rows (for quarantine).
    """
    total = len(df)
    results: list[ExpectationResult | None] = []
    masks: dict[int, pd.Series] = {}
    for i, exp in enumerate(expectations):
        if not S.fast_eligible(exp) or exp["type"] == S.UNEXPECTED_ROWS:
            results.append(None)
            continue
        if exp["type"] == S.ROW_COUNT:
            results.append(row_count_result(exp, total))
            continue
        missing = _missing_columns(df, exp)
        if missing:
            results.append(error_result(exp, missing))
            continue
        try:
            rule = compile_rule(df, exp, lookup)
        except (KeyError, TypeError, ValueError) as exc:
            results.append(error_result(exp, f"{type(exc).__name__}: {exc}"))
            continue
        if rule is None:
            results.append(None)
            continue
        unexpected = int(rule.unexpected.sum())
        considered = None if rule.domain is None else int(rule.domain.sum())
        examples = rule.examples(rule.unexpected) if unexpected else []
        results.append(map_result(exp, total=total, considered=considered, unexpected=unexpected,
                                  examples=examples))
        masks[i] = rule.unexpected
    return results, masks


REASON_COLUMN = REASON  # the quarantine's reason column (nbpipe.core.layout)


def split_rows(
    df: pd.DataFrame, expectations: list[dict[str, Any]], indices: list[int], lookup: Lookup | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``df`` into passing rows and failing rows (with ``_nbpipe_reason``) for ``indices``."""
    reasons = pd.Series("", index=df.index, dtype=object)
    for i in indices:
        rule = compile_rule(df, expectations[i], lookup)
        if rule is None:
            continue
        name = expectations[i]["type"]
        hit = rule.unexpected.astype(bool)
        reasons[hit] = np.where(reasons[hit] == "", name, reasons[hit] + "," + name)
    bad = reasons != ""
    rejected = df[bad].copy()
    rejected[REASON_COLUMN] = reasons[bad].astype(str)
    return df[~bad].copy(), rejected
