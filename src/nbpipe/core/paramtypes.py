"""The parameter types: infer one from a default, convert a raw value to one, check declared bounds.

Pure and error-class free: :func:`convert` and :func:`check_declaration` raise ``ValueError`` with
the reason, and their callers say whose fault it is (a user's value is a
:class:`~nbpipe.errors.ParameterError`, a pipeline's declaration a
:class:`~nbpipe.errors.ConfigError`). Both :mod:`nbpipe.core.config` (declared types, at load) and
:mod:`nbpipe.core.params` (inferred types and user values, at run) use them.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

ISO_DATE_LEN = 10
ORDERED_TYPES = ("str", "int", "float", "date", "datetime")  # the types ``min``/``max`` apply to
EXPECTED = {
    "bool": " (use true/false)",
    "date": " (expected YYYY-MM-DD)",
    "datetime": " (expected ISO 8601, e.g. 2013-01-02T06:00:00)",
    "list": ' (expected a JSON list like ["a","b"] or comma-separated items like a,b)',
    "dict": " (expected a JSON object)",
}


def infer_type(value: Any) -> str:
    """The nbpipe type name of a default value."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "dict"
    if isinstance(value, str):
        if parse_datetime(value) is not None and len(value) > ISO_DATE_LEN:
            return "datetime"
        if parse_date(value) is not None:
            return "date"
    return "str"


def convert(typ: str, raw: Any) -> Any:
    """``raw`` as a value of type ``typ``; ``ValueError`` (with what was expected) if it is not one."""
    if raw is None:
        return None
    converter = _CONVERTERS.get(typ)
    if converter is None:
        raise ValueError(f"unknown type {typ!r}")
    value = converter(raw)
    if value is _INVALID:
        raise ValueError(EXPECTED.get(typ, ""))
    return value


def check_declaration(typ: str, choices: list[Any] | None, low: Any, high: Any) -> tuple[Any, Any, Any]:
    """The ``choices``, ``min`` and ``max`` of a parameter of type ``typ``, converted to it.

    Raises:
        ValueError: a bound or choice is not a ``typ``, a bound is NaN, ``min`` is above ``max``,
            or bounds are given for a type without an order (bool, list, dict).
    """
    if (low is not None or high is not None) and typ not in ORDERED_TYPES:
        raise ValueError(f"'min'/'max' apply to {', '.join(ORDERED_TYPES)} parameters, not to a {typ}")
    converted: dict[str, Any] = {}
    for key, bound in (("min", low), ("max", high)):
        try:
            converted[key] = convert(typ, bound)
        except ValueError as exc:
            raise ValueError(f"'{key}' {bound!r} is not of type {typ}{exc}") from None
        if isinstance(converted[key], float) and math.isnan(converted[key]):
            raise ValueError(f"'{key}' must be a number, not NaN")
    if converted["min"] is not None and converted["max"] is not None and converted["min"] > converted["max"]:
        raise ValueError(f"'min' {low!r} is above 'max' {high!r}")
    typed_choices = None
    if choices is not None:
        typed_choices = []
        for choice in choices:
            try:
                typed_choices.append(convert(typ, choice))
            except ValueError as exc:
                raise ValueError(f"choice {choice!r} is not of type {typ}{exc}") from None
    return typed_choices, converted["min"], converted["max"]


def parse_date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if len(value) == ISO_DATE_LEN else None
    except ValueError:
        return None


def parse_datetime(value: str) -> dt.datetime | None:
    if len(value) < ISO_DATE_LEN:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None


_INVALID = object()


def _str(raw: Any) -> Any:
    return _INVALID if isinstance(raw, (dict, list)) else str(raw)


def _bool(raw: Any) -> Any:
    if isinstance(raw, bool):
        return raw
    text = raw.strip().lower() if isinstance(raw, str) else None
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    return _INVALID


def _int(raw: Any) -> Any:
    if isinstance(raw, bool):
        return _INVALID
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str):
        try:
            return int(raw.strip().replace("_", ""))
        except ValueError:
            return _INVALID
    return _INVALID


def _float(raw: Any) -> Any:
    if isinstance(raw, bool):
        return _INVALID
    if isinstance(raw, (int, float)):
        return float(raw)
    if isinstance(raw, str):
        try:
            return float(raw.strip())
        except ValueError:
            return _INVALID
    return _INVALID


def _date(raw: Any) -> Any:
    value = raw.isoformat() if isinstance(raw, dt.date) and not isinstance(raw, dt.datetime) else raw
    if isinstance(value, str) and (parsed := parse_date(value.strip())) is not None:
        return parsed.isoformat()
    return _INVALID


def _datetime(raw: Any) -> Any:
    value = raw.isoformat() if isinstance(raw, dt.datetime) else raw
    if isinstance(value, str) and (parsed := parse_datetime(value.strip())) is not None:
        return parsed.isoformat()
    return _INVALID


def _list(raw: Any) -> Any:
    if isinstance(raw, (list, tuple)):
        return list(raw)
    if not isinstance(raw, str):
        return _INVALID
    text = raw.strip()
    if not text:
        return []
    if text.startswith("["):  # JSON, or nothing: '[1,' is a typo, not the items '[1' and ''
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return _INVALID
        return value if isinstance(value, list) else _INVALID
    items = [item.strip() for item in text.split(",")]
    return _INVALID if "" in items else items


def _dict(raw: Any) -> Any:
    if isinstance(raw, dict):
        return raw
    if not isinstance(raw, str):
        return _INVALID
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return _INVALID
    return value if isinstance(value, dict) else _INVALID


_CONVERTERS = {
    "str": _str,
    "bool": _bool,
    "int": _int,
    "float": _float,
    "date": _date,
    "datetime": _datetime,
    "list": _list,
    "dict": _dict,
}
