"""Expectation suites on disk: ``<project>/expectations/<suite>.json`` in GX 1.x format.

This module owns reading, validating and writing suite files and classifying each
expectation (fast path or great-expectations). It is pure Python: great-expectations is
only imported by :mod:`nbpipe.quality.native`, which also registers nbpipe's own
expectation type so GX can load every suite written here.

A suite file is exactly what ``ExpectationSuite.to_json_dict()`` produces::

    {"name": "flights", "id": null, "meta": {...}, "notes": null,
     "expectations": [{"type": "expect_column_values_to_not_be_null",
                       "kwargs": {"column": "carrier"}, "meta": {}, "severity": "critical"}]}
"""

from __future__ import annotations

import copy
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from nbpipe.core.config import check_name
from nbpipe.errors import ConfigError, did_you_mean

EXPECTATIONS_DIR = "expectations"

#: nbpipe's foreign-key expectation: non-null ``column`` values must occur in
#: ``dataset.dataset_column`` (another catalog dataset or a registered DataFrame).
FK_TYPE = "expect_column_values_to_be_in_dataset"

ROW_COUNT = "expect_table_row_count_to_be_between"
NOT_NULL = "expect_column_values_to_not_be_null"
UNIQUE = "expect_column_values_to_be_unique"
COMPOUND_UNIQUE = "expect_compound_columns_to_be_unique"
BETWEEN = "expect_column_values_to_be_between"
IN_SET = "expect_column_values_to_be_in_set"
REGEX = "expect_column_values_to_match_regex"
LENGTHS = "expect_column_value_lengths_to_be_between"
PAIR_GREATER = "expect_column_pair_values_a_to_be_greater_than_b"
UNEXPECTED_ROWS = "unexpected_rows_expectation"

#: Expectation types the fast paths compile themselves (engine-specific limits apply).
FAST_TYPES = frozenset(
    {ROW_COUNT, NOT_NULL, UNIQUE, COMPOUND_UNIQUE, BETWEEN, IN_SET, REGEX, LENGTHS, PAIR_GREATER,
     UNEXPECTED_ROWS, FK_TYPE}
)
#: Column-map types whose failing rows can be identified (and so quarantined).
ROW_LEVEL_TYPES = FAST_TYPES - {ROW_COUNT}

#: kwargs that never change what an expectation computes.
NEUTRAL_KWARGS = frozenset({"result_format", "catch_exceptions", "include_config", "meta", "batch_id",
                            "description", "windows"})

_WHERE_RE = re.compile(r"^\s*select\s+\*\s+from\s+\{batch\}\s+where\s+(?P<cond>.+?)\s*;?\s*$",
                       re.IGNORECASE | re.DOTALL)
# Anything beyond a plain predicate (sub-queries, grouping, limits, other tables), whatever
# whitespace (a newline, a tab) surrounds the keyword.
_NOT_A_PREDICATE = re.compile(r"\b(select|group\s+by|order\s+by|limit|offset|union|intersect|except|join|"
                              r"having)\b|[{};]", re.IGNORECASE)


def suite_path(root: Path, name: str) -> Path:
    """Return the file of suite ``name`` under ``root/expectations``."""
    check_name(name, "suite")
    return Path(root) / EXPECTATIONS_DIR / f"{name}.json"


def available_suites(root: Path) -> list[str]:
    """Names of the suites present in ``root/expectations``."""
    folder = Path(root) / EXPECTATIONS_DIR
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


def new_suite(name: str, expectations: list[dict[str, Any]] | None = None,
              meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build a suite dict in the shape GX 1.x serialises."""
    check_name(name, "suite")
    return {
        "name": name,
        "id": None,
        "expectations": [normalize_expectation(e) for e in (expectations or [])],
        "meta": dict(meta or {}),
        "notes": None,
    }


def normalize_expectation(exp: dict[str, Any]) -> dict[str, Any]:
    """Return ``exp`` with ``type``, ``kwargs``, ``meta`` and ``severity`` present."""
    if not isinstance(exp, dict):
        raise ConfigError(f"an expectation must be a mapping, got {type(exp).__name__}: {exp!r}")
    etype = exp.get("type") or exp.get("expectation_type")
    if not isinstance(etype, str) or not etype:
        raise ConfigError(
            f"expectation {exp!r} has no 'type'",
            hint='write it as {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "x"}}',
        )
    kwargs = exp.get("kwargs", {})
    if not isinstance(kwargs, dict):
        raise ConfigError(f"expectation {etype!r}: 'kwargs' must be a mapping, got {kwargs!r}")
    out = {k: v for k, v in exp.items() if k != "expectation_type"}
    out.update(type=etype, kwargs=dict(kwargs), meta=dict(exp.get("meta") or {}))
    out.setdefault("severity", "critical")
    return out


def validate_suite(suite: Any, source: str) -> dict[str, Any]:
    """Check the structure of a loaded suite; return a normalised deep copy."""
    if not isinstance(suite, dict):
        raise ConfigError(f"{source}: a suite must be a JSON object, got {type(suite).__name__}")
    name = suite.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{source}: the suite has no 'name'", hint='add "name": "<suite>" at the top level')
    exps = suite.get("expectations", [])
    if not isinstance(exps, list):
        raise ConfigError(f"{source}: 'expectations' must be a list")
    out = copy.deepcopy(suite)
    out["expectations"] = []
    for i, exp in enumerate(exps):
        try:
            out["expectations"].append(normalize_expectation(exp))
        except ConfigError as exc:
            raise ConfigError(f"{source}: expectation #{i}: {exc.message}", hint=exc.hint) from None
    out.setdefault("meta", {})
    out.setdefault("notes", None)
    out.setdefault("id", None)
    return out


def load_suite(root: Path, name: str) -> dict[str, Any]:
    """Read and validate ``root/expectations/<name>.json``."""
    path = suite_path(root, name)
    if not path.is_file():
        names = available_suites(root)
        raise ConfigError(
            f"expectation suite {name!r} not found: {path} does not exist{did_you_mean(name, names)}",
            hint=f"existing suites: {', '.join(names) or '(none)'}; create it with `nbpipe promote "
            f"NOTEBOOK` or write {EXPECTATIONS_DIR}/{name}.json (GX 1.x ExpectationSuite JSON)",
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}", hint="fix the file or re-create it") from None
    return validate_suite(raw, str(path))


def save_suite(root: Path, suite: dict[str, Any]) -> Path:
    """Write ``suite`` atomically to ``root/expectations/<name>.json``; return the path."""
    suite = validate_suite(suite, "suite")
    path = suite_path(root, suite["name"])
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(suite, indent=2, ensure_ascii=False, default=str) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def where_condition(query: str) -> str | None:
    """The ``<cond>`` of ``SELECT * FROM {batch} WHERE <cond>``, or None for any other query form."""
    match = _WHERE_RE.match(query or "")
    if not match:
        return None
    cond = match.group("cond")
    return None if _NOT_A_PREDICATE.search(cond) else cond


def has_suite_parameters(kwargs: dict[str, Any]) -> bool:
    """True when a kwarg is a ``{"$PARAMETER": ...}`` reference (resolved only by GX)."""
    return any(isinstance(v, dict) and "$PARAMETER" in v for v in kwargs.values())


def int_bounds(kwargs: dict[str, Any]) -> bool:
    """True when ``min_value``/``max_value`` are absent or plain integers (a row count's fast form).

    GX also accepts datetimes there (``"1.5"`` parses as one); those go to GX itself.
    """
    return all(v is None or (isinstance(v, int) and not isinstance(v, bool))
               for v in (kwargs.get("min_value"), kwargs.get("max_value")))


def fast_eligible(exp: dict[str, Any]) -> bool:
    """True when no engine-independent reason keeps ``exp`` off the fast path."""
    kwargs = exp.get("kwargs", {})
    if exp["type"] not in FAST_TYPES or has_suite_parameters(kwargs):
        return False
    if kwargs.get("row_condition"):
        return False
    if exp["type"] == UNEXPECTED_ROWS:
        return where_condition(str(kwargs.get("unexpected_rows_query", ""))) is not None
    if exp["type"] == ROW_COUNT:
        return int_bounds(kwargs)
    if exp["type"] == COMPOUND_UNIQUE:  # a column named twice: GX's own handling decides
        columns = kwargs.get("column_list")
        return isinstance(columns, list) and len(set(map(str, columns))) == len(columns)
    return True


def describe(exp: dict[str, Any]) -> str:
    """A short human label: ``expect_column_values_to_be_unique(flight_id)``."""
    kwargs = exp.get("kwargs", {})
    cols = kwargs.get("column") or kwargs.get("column_list")
    if cols is None and "column_A" in kwargs:
        cols = [kwargs.get("column_A"), kwargs.get("column_B")]
    if exp.get("type") == UNEXPECTED_ROWS:
        cols = where_condition(str(kwargs.get("unexpected_rows_query", ""))) or kwargs.get(
            "unexpected_rows_query")
    if isinstance(cols, list):
        cols = ", ".join(str(c) for c in cols)
    return f"{exp.get('type')}({cols})" if cols else str(exp.get("type"))
