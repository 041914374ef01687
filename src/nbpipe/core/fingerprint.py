"""Run fingerprints: stable hashes of what determines a run's output.

Pure (no papermill, no Spark): the runner compares the fingerprint of the run it is about to
start with the last successful one and skips the run when they are equal. A fingerprint covers

* the notebook's code (code cell sources only: no outputs, metadata, execution counts,
  markdown, or papermill's ``injected-parameters`` cell),
* the parameters (canonical JSON, so key order and ``1`` vs ``1.0`` noise do not matter),
* the inputs (committed positions and/or a file listing, canonical JSON),
* optional extras (e.g. the nbpipe version, the profile).

Every function returns ``"sha256:<hex>"``, except :func:`keyed_digest` (``"hmac-sha256:<hex>"``).

Secret values never enter an unkeyed hash: an unsalted SHA-256 of a password can be reversed by
guessing. :func:`secret_safe_params` and :func:`secret_safe_config` replace each secret value by
its HMAC-SHA-256 under a key that never leaves the machine (the runner keeps it, see
:mod:`nbpipe.run.fingerprint_key`), so a changed secret still changes the fingerprint.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import hmac
import json
import math
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import PurePath
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

INJECTED_TAG = "injected-parameters"
PREFIX = "sha256:"
KEYED_PREFIX = "hmac-sha256:"


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


# -- secrets: keyed hashes only -------------------------------------------------------------------
def keyed_digest(key: bytes, value: Any) -> str:
    """HMAC-SHA-256 of ``value`` (canonical JSON) under ``key``: ``"hmac-sha256:<hex>"``.

    Without the key, guessing the value from the digest is as hard as guessing the key.
    """
    mac = hmac.new(key, canonical_json(value).encode("utf-8"), hashlib.sha256)
    return KEYED_PREFIX + mac.hexdigest()


def key_id(key: bytes) -> str:
    """A short public name of a fingerprint key (tells two machines' keys apart, reveals nothing)."""
    return hashlib.sha256(b"nbpipe fingerprint key id\0" + key).hexdigest()[:16]


def secret_safe_params(params: Mapping[str, Any], secret_names: Iterable[str], key: bytes) -> dict[str, Any]:
    """``params`` with each secret value replaced by its keyed digest (ready for :func:`params_fingerprint`)."""
    secret = set(secret_names)
    return {name: ({"secret": keyed_digest(key, value)} if name in secret else value)
            for name, value in params.items()}


def is_secret_key(name: str, patterns: Iterable[str]) -> bool:
    """Whether a parameter or option name matches one of ``secrets.param_patterns`` (case-insensitive)."""
    return any(fnmatch.fnmatchcase(name.lower(), p.lower()) for p in patterns)


def secret_safe_config(value: Any, key: bytes, patterns: Iterable[str]) -> Any:
    """A configuration value with its secrets replaced by keyed digests.

    Secret are: scalar values under keys matching ``patterns`` (``password``, ``sasl.password``,
    ``spark.hadoop.fs.s3a.secret.key`` …; a list such as ``primary_key`` is not a value), the
    password of a URL (``scheme://user:pw@host``) and URL query values under matching names
    (``?password=…``).
    """
    patterns = list(patterns)
    if isinstance(value, Mapping):
        return {str(k): (keyed_digest(key, v) if _scalar(v) and is_secret_key(str(k), patterns)
                         else secret_safe_config(v, key, patterns))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [secret_safe_config(v, key, patterns) for v in value]
    if isinstance(value, str) and "://" in value:
        return _safe_url(value, key, patterns)
    return value


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool) and value != ""


def _safe_url(url: str, key: bytes, patterns: list[str]) -> str:
    scheme, rest = url.split("://", 1)
    try:
        parts = urlsplit("x://" + rest)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            user, password = userinfo.split(":", 1)
            netloc = f"{user}:{keyed_digest(key, password)}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, keyed_digest(key, v) if is_secret_key(k, patterns) else v) for k, v in pairs])
    if netloc == parts.netloc and query == parts.query:
        return url
    return scheme + "://" + urlunsplit(("", netloc, parts.path, query, parts.fragment)).removeprefix("//")


def content_digest(data: bytes) -> str:
    """Hash of a file's bytes (contracts, suites, project modules)."""
    return PREFIX + hashlib.sha256(data).hexdigest()


def digest(value: Any) -> str:
    """Hash of any JSON-like value as canonical JSON."""
    return _digest(canonical_json(value))
