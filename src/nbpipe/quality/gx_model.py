"""Expectations built through great-expectations' own models, once per suite load.

GX 1.x declares every expectation type as a pydantic model. Building one refuses what GX
refuses (an unknown kwarg such as a misspelt ``max_vlaue``, a missing ``value_set``, ``mostly``
outside 0..1 or null, a compound key of one column, an unknown expectation type) and coerces
the rest exactly as GX validates it (``"1"`` becomes ``1.0``, ``strict_min: "false"`` becomes
``False``, an integer bound of a float column becomes a float).

:func:`prepare` builds a whole suite this way before anything is compiled. The fast paths then
compile the kwargs GX produced (:attr:`Prepared.effective`), never the raw ones, so they accept
exactly what GX accepts and compute on the same values; an expectation GX refuses becomes a
failed result flagged ``invalid`` whose message names the expectation, the kwarg and GX's
reason, never a check that silently does less.

Building an expectation needs great-expectations imported (seconds in a fresh kernel). What GX
made of an expectation depends only on the GX and nbpipe versions and the expectation itself, so
each verdict is kept in a small cache (``$XDG_CACHE_HOME/nbpipe/gx-verdicts/``, default
``~/.cache``; one JSON file per verdict, written atomically): a kernel whose suites did not change
checks them without importing GX. A verdict whose kwargs do not survive JSON unchanged is not
cached; an unreadable cache entry is ignored and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from nbpipe.errors import did_you_mean
from nbpipe.quality.results import ExpectationResult, invalid_result
from nbpipe.quality.suites import describe

#: The stand-in type of a refused expectation in :attr:`Prepared.effective` (no engine handles it).
INVALID_TYPE = "_nbpipe_invalid"

# pydantic's "this value is not a {"$PARAMETER": ...} reference" is noise next to the real reason.
_SUITE_PARAMETER_NOISE = "type_error.dict"


def build_object(exp: dict[str, Any], meta: dict[str, Any] | None = None) -> Any:
    """Build ``exp`` as great-expectations' own expectation object (raises what GX raises)."""
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    from nbpipe.quality.native import register_extensions

    register_extensions()
    config = ExpectationConfiguration(type=exp["type"], kwargs=dict(exp["kwargs"]),
                                      meta=exp.get("meta") if meta is None else meta)
    return config.to_domain_obj()


def _known_types() -> list[str]:
    from great_expectations.expectations.registry import list_registered_expectation_implementations

    return list_registered_expectation_implementations()


def _fields(obj_type: str) -> list[str]:
    from great_expectations.expectations.registry import get_expectation_impl

    try:
        return list(get_expectation_impl(obj_type).__fields__)
    except Exception:  # an unknown type has no fields to suggest
        return []


def _validation_parts(exp: dict[str, Any], errors: Sequence[Mapping[str, Any]]) -> list[str]:
    by_kwarg: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for err in errors:
        loc = err.get("loc") or ("__root__",)
        by_kwarg[str(loc[0])].append(err)
    parts = []
    for kwarg, errs in by_kwarg.items():
        real = [e for e in errs if e.get("type") != _SUITE_PARAMETER_NOISE] or errs
        said = "; ".join(dict.fromkeys(str(e.get("msg")).rstrip(".") for e in real))
        if kwarg == "__root__":
            parts.append(f"the kwargs together: {said}")
        elif any(e.get("type") == "value_error.extra" for e in real):
            names = [f for f in _fields(exp["type"]) if f not in exp["kwargs"]]
            parts.append(f"unknown kwarg {kwarg!r}: {said}{did_you_mean(kwarg, names)}")
        elif any(e.get("type") == "value_error.missing" for e in real):
            parts.append(f"missing kwarg {kwarg!r}: {said}")
        else:
            value = repr(exp["kwargs"].get(kwarg))
            shown = value if len(value) <= 80 else value[:79] + "…"
            parts.append(f"kwarg {kwarg!r} = {shown}: {said}")
    return parts


def refusal(exp: dict[str, Any], exc: BaseException) -> str:
    """Say which expectation great-expectations refused, which kwarg, and GX's own reason."""
    from great_expectations.compatibility import pydantic
    from great_expectations.exceptions import ExpectationNotFoundError

    if isinstance(exc, pydantic.ValidationError):
        reason = "; ".join(_validation_parts(exp, exc.errors()))
    elif isinstance(exc, ExpectationNotFoundError):
        reason = f"there is no expectation type {exp['type']!r}{did_you_mean(exp['type'], _known_types())}"
    else:
        reason = " ".join(str(exc).split()) or type(exc).__name__
    return (f"invalid expectation {describe(exp)}: great-expectations refuses it: {reason}. "
            "Nothing was checked; fix the expectation in the suite file")


@dataclass(frozen=True)
class Prepared:
    """A suite's expectations as written, as great-expectations built them, and its refusals."""

    name: str
    #: As written in the suite file (what results and the run record show).
    expectations: list[dict[str, Any]]
    #: One per expectation: ``type`` and the kwargs as GX coerced them; ``INVALID_TYPE`` when refused.
    effective: list[dict[str, Any]]
    #: Index of each refused expectation → the message saying why.
    errors: dict[int, str] = field(default_factory=dict)

    def invalid(self, index: int, engine: str = "fast") -> ExpectationResult:
        """The failed, ``invalid`` result of refused expectation ``index``."""
        return invalid_result(self.expectations[index], self.errors[index], engine=engine)


def effective(exp: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """``exp`` with the kwargs GX builds from it, or None and the reason GX refuses it."""
    key = _verdict_key(exp)
    cached = _cached_verdict(key)
    if cached is not None:
        kwargs, error = cached
        if error is not None:
            return None, error
        return {"type": exp["type"], "kwargs": kwargs, "meta": dict(exp.get("meta") or {})}, None
    try:
        obj = build_object(exp)
    except Exception as exc:  # GX raises pydantic, registry and configuration errors
        message = refusal(exp, exc)
        _store_verdict(key, {"error": message})
        return None, message
    built = dict(obj.configuration.kwargs)
    _store_verdict(key, {"kwargs": built})
    return {"type": exp["type"], "kwargs": built, "meta": dict(exp.get("meta") or {})}, None


@cache
def _versions() -> str:
    found = []
    for package in ("great_expectations", "nbpipe"):
        try:
            found.append(f"{package}={metadata.version(package)}")
        except metadata.PackageNotFoundError:  # pragma: no cover - both are installed with nbpipe
            found.append(f"{package}=?")
    # nbpipe's own expectation types: a development checkout changes them without a new version
    here = Path(__file__).parent
    code = b"".join((here / name).read_bytes() for name in ("_gx_extensions.py", "gx_model.py"))
    found.append("code=" + hashlib.sha256(code).hexdigest()[:16])
    return ";".join(found)


def verdict_dir() -> Path:
    """Where verdicts are cached: ``$XDG_CACHE_HOME/nbpipe/gx-verdicts`` (default ``~/.cache``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nbpipe" / "gx-verdicts"


def _verdict_key(exp: dict[str, Any]) -> str | None:
    try:
        text = json.dumps({"v": _versions(), "type": exp["type"], "kwargs": exp["kwargs"]}, sort_keys=True,
                          allow_nan=False)
    except (TypeError, ValueError):  # not JSON (e.g. NaN): build it every time
        return None
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _cached_verdict(key: str | None) -> tuple[dict[str, Any], str | None] | None:
    if key is None:
        return None
    try:
        data = json.loads((verdict_dir() / f"{key}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return {}, data["error"]
    if isinstance(data, dict) and isinstance(data.get("kwargs"), dict):
        return data["kwargs"], None
    return None


def _store_verdict(key: str | None, verdict: dict[str, Any]) -> None:
    """Keep ``verdict`` if it survives JSON unchanged; a cache that cannot be written is skipped."""
    if key is None:
        return
    try:
        text = json.dumps(verdict, sort_keys=True, allow_nan=False)
        if json.loads(text) != verdict:
            return
        folder = verdict_dir()
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, folder / f"{key}.json")
    except (OSError, TypeError, ValueError):
        return


def prepare(suite: dict[str, Any]) -> Prepared:
    """Build every expectation of ``suite`` (a loaded suite dict) through great-expectations' models."""
    expectations = list(suite["expectations"])
    built: list[dict[str, Any]] = []
    errors: dict[int, str] = {}
    for i, exp in enumerate(expectations):
        done, error = effective(exp)
        if done is None:
            errors[i] = str(error)
            built.append({"type": INVALID_TYPE, "kwargs": {}, "meta": {}})
        else:
            built.append(done)
    return Prepared(name=str(suite.get("name") or "nbpipe"), expectations=expectations, effective=built,
                    errors=errors)
