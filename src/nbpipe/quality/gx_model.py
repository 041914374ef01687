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
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
    try:
        obj = build_object(exp)
    except Exception as exc:  # GX raises pydantic, registry and configuration errors
        return None, refusal(exp, exc)
    return {"type": exp["type"], "kwargs": dict(obj.configuration.kwargs), "meta": dict(exp.get("meta") or {})}, None


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
