"""Run fingerprints: stable hashes of what determines a run's output.

Pure (no papermill, no Spark): the runner compares the fingerprint of the run it is about to
start with the last successful one and skips the run when they are equal. A fingerprint covers

* the notebook's code (code cell sources only: no outputs, metadata, execution counts,
  markdown, or papermill's ``injected-parameters`` cell),
* the parameters (canonical JSON, so key order and ``1`` vs ``1.0`` noise do not matter),
* the inputs (committed positions and/or a file listing, canonical JSON),
* optional extras (e.g. the nbpipe version, the profile).

Every function returns ``"sha256:<hex>"``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Mapping
from decimal import Decimal
from pathlib import PurePath
from typing import Any

INJECTED_TAG = "injected-parameters"
PREFIX = "sha256:"


def canonical_json(value: Any) -> str:
    """Serialise ``value`` deterministically: sorted keys, no spaces, ISO dates, sets sorted.

    Integral floats are written as integers (``1.0`` and ``1`` hash alike); NaN and infinities
    are written as strings so the output stays valid JSON.
    """
    return json.dumps(_normalise(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _normalise(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalise(v) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [_normalise(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True, default=str))
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, PurePath):
        return value.as_posix()
    if isinstance(value, bytes):
        return value.hex()
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return _normalise(item())
    return str(value)


def _digest(text: str) -> str:
    return PREFIX + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _source(cell: Mapping[str, Any]) -> str:
    source = cell.get("source", "")
    text = "".join(source) if isinstance(source, list) else str(source)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n")


def code_cells(nb_json: Mapping[str, Any]) -> list[str]:
    """The normalised sources of the code cells that define the notebook's behaviour.

    Skips papermill's ``injected-parameters`` cell and empty cells; line endings and trailing
    whitespace are normalised so an editor's save does not change the fingerprint.
    """
    sources: list[str] = []
    for cell in nb_json.get("cells", []) or []:
        if cell.get("cell_type") != "code":
            continue
        tags = (cell.get("metadata") or {}).get("tags") or []
        if INJECTED_TAG in tags:
            continue
        text = _source(cell)
        if text:
            sources.append(text)
    return sources


def notebook_fingerprint(nb_json: Mapping[str, Any]) -> str:
    """Hash of the notebook's code cell sources (not outputs, metadata or injected parameters)."""
    return _digest(canonical_json({"code": code_cells(nb_json)}))


def params_fingerprint(params: Mapping[str, Any]) -> str:
    """Hash of the parameters as canonical JSON."""
    return _digest(canonical_json(dict(params)))


def inputs_fingerprint(positions_or_listing: Any) -> str:
    """Hash of the inputs: committed positions ``{dataset: position}`` and/or file listings."""
    return _digest(canonical_json(positions_or_listing))


def fingerprint_parts(
    nb_json: Mapping[str, Any],
    params: Mapping[str, Any],
    inputs: Any = None,
    *,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """The component fingerprints (for the run record: shows *what* changed between runs)."""
    parts = {
        "notebook": notebook_fingerprint(nb_json),
        "params": params_fingerprint(params),
        "inputs": inputs_fingerprint(inputs),
    }
    if extra:
        parts["extra"] = _digest(canonical_json(dict(extra)))
    return parts


def run_fingerprint(
    nb_json: Mapping[str, Any],
    params: Mapping[str, Any],
    inputs: Any = None,
    *,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """One hash over notebook code, parameters, inputs and extras; equal means "same run".

    Example:
        >>> nb = {"cells": [{"cell_type": "code", "source": "x = 1", "metadata": {}}]}
        >>> run_fingerprint(nb, {"a": 1}) == run_fingerprint(nb, {"a": 1.0})
        True
    """
    return _digest(canonical_json(fingerprint_parts(nb_json, params, inputs, extra=extra)))
