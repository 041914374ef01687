"""Run parameters: infer types from the ``parameters`` cell, coerce and validate user values.

Pure: no kernel, no papermill. Values are data: they are parsed with ``json``/``yaml``/
``ast.literal_eval`` and handed to papermill's translators, never evaluated as code.
"""

from __future__ import annotations

import ast
import datetime as dt
import fnmatch
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from nbpipe.core.config import ParamSpec
from nbpipe.errors import ParameterError, did_you_mean

_ISO_DATE_LEN = 10


@dataclass(frozen=True)
class NotebookParam:
    """A parameter as declared in the notebook's ``parameters`` cell."""

    name: str
    default_source: str
    inferred_type: str | None = None
    help: str = ""


@dataclass(frozen=True)
class ParamDef:
    """The effective definition: notebook default overlaid by ``nbpipe.yaml``."""

    name: str
    type: str
    default: Any
    has_default: bool
    required: bool = False
    choices: tuple[Any, ...] | None = None
    min: Any = None
    max: Any = None
    secret: bool = False


@dataclass
class ResolvedParams:
    """Validated values ready to inject, and which of them are secret."""

    values: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    secret_names: set[str] = field(default_factory=set)
    env_secret_values: list[str] = field(default_factory=list)

    @property
    def secret_values(self) -> list[str]:
        found = [str(self.values[n]) for n in self.secret_names if self.values.get(n) not in (None, "")]
        return sorted(set(found + self.env_secret_values), key=len, reverse=True)

    @property
    def effective(self) -> dict[str, Any]:
        """What the notebook sees: its literal defaults overridden by the given values."""
        return {**self.defaults, **self.values}

    def masked(self, mask: str = "***") -> dict[str, Any]:
        return {k: (mask if k in self.secret_names else v) for k, v in self.values.items()}


def literal_default(source: str) -> tuple[Any, bool]:
    """Parse a default's source text as a literal; ``(None, False)`` if it is an expression."""
    try:
        return ast.literal_eval(source), True
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None, False


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
        if _parse_datetime(value) is not None and len(value) > _ISO_DATE_LEN:
            return "datetime"
        if _parse_date(value) is not None:
            return "date"
    return "str"


def is_secret_name(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name.lower(), p.lower()) for p in patterns)


def build_definitions(
    notebook_params: list[NotebookParam],
    specs: Mapping[str, ParamSpec],
    secret_patterns: list[str],
) -> dict[str, ParamDef]:
    """Combine the notebook's parameters with the pipeline's declared types."""
    defs: dict[str, ParamDef] = {}
    for p in notebook_params:
        default, literal = literal_default(p.default_source)
        spec = specs.get(p.name, ParamSpec())
        typ = spec.type or (infer_type(default) if literal and default is not None else "str")
        defs[p.name] = ParamDef(
            name=p.name,
            type=typ,
            default=default,
            has_default=literal,
            required=spec.required,
            choices=tuple(spec.choices) if spec.choices is not None else None,
            min=spec.min,
            max=spec.max,
            secret=spec.secret or is_secret_name(p.name, secret_patterns),
        )
    for name, spec in specs.items():
        if name not in defs:
            # Declared in nbpipe.yaml but not in the notebook: still a valid, injectable name.
            defs[name] = ParamDef(
                name=name,
                type=spec.type or "str",
                default=None,
                has_default=False,
                required=spec.required,
                choices=tuple(spec.choices) if spec.choices is not None else None,
                min=spec.min,
                max=spec.max,
                secret=spec.secret or is_secret_name(name, secret_patterns),
            )
    return defs


def parse_cli_pairs(pairs: list[str]) -> dict[str, str]:
    """Split ``-p key=value`` arguments."""
    out: dict[str, str] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ParameterError(
                f"parameter {pair!r} is not of the form NAME=VALUE", hint="e.g. -p run_date=2013-01-02"
            )
        key, value = pair.split("=", 1)
        key = key.strip()
        if not key:
            raise ParameterError(f"parameter {pair!r} has an empty name", hint="e.g. -p run_date=2013-01-02")
        out[key] = value
    return out


def load_params_file(text: str, source: str) -> dict[str, Any]:
    """Parse a ``--params-file`` (YAML or JSON mapping)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ParameterError(f"{source} is not valid YAML/JSON: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParameterError(f"{source} must hold a mapping of parameter names to values")
    return {str(k): v for k, v in data.items()}


def resolve(
    defs: Mapping[str, ParamDef],
    given: Mapping[str, Any],
    *,
    from_cli: frozenset[str] = frozenset(),
    environ: Mapping[str, str] | None = None,
) -> ResolvedParams:
    """Validate ``given`` against ``defs``; return the typed values to inject.

    Strings from the command line (names in ``from_cli``) are coerced to the declared type; values
    from a params file must already have a compatible type (or be coercible strings). A value
    ``env:VAR`` is read from the environment and always treated as a secret.
    """
    environ = os.environ if environ is None else environ
    out = ResolvedParams()
    for name in given:
        if name not in defs:
            known = ", ".join(sorted(defs)) or "(the notebook declares none)"
            raise ParameterError(
                f"unknown parameter {name!r}{did_you_mean(name, defs)}",
                hint=f"parameters of this notebook: {known}",
            )
    for name, d in defs.items():
        if d.secret:
            out.secret_names.add(name)
        if name not in given:
            if d.has_default:
                out.defaults[name] = d.default
            if d.required:
                raise ParameterError(
                    f"parameter {name!r} is required (type {d.type})",
                    hint=f"pass it with -p {name}=VALUE",
                )
            continue
        raw = given[name]
        if isinstance(raw, str) and raw.startswith("env:"):
            var = raw[4:]
            if var not in environ:
                raise ParameterError(
                    f"parameter {name!r} reads environment variable {var!r}, which is not set",
                    hint=f"export {var}=... before running, or pass the value directly",
                )
            raw = environ[var]
            out.secret_names.add(name)
            if raw:
                out.env_secret_values.append(raw)
        out.values[name] = _check(d, coerce(d, raw, from_cli=name in from_cli))
    return out


def coerce(d: ParamDef, raw: Any, *, from_cli: bool = True) -> Any:
    """Turn ``raw`` into a value of type ``d.type`` or raise a ParameterError naming it."""
    shown = "***" if d.secret else repr(raw)

    def bad(extra: str = "") -> ParameterError:
        return ParameterError(
            f"parameter {d.name!r}: {shown} is not a valid {d.type}{extra}",
            hint=_example(d),
        )

    t = d.type
    if raw is None:
        return None
    if t == "str":
        if isinstance(raw, (dict, list)):
            raise bad()
        return str(raw)
    if t == "bool":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in ("true", "1", "yes", "on"):
            return True
        if isinstance(raw, str) and raw.strip().lower() in ("false", "0", "no", "off"):
            return False
        raise bad(" (use true/false)")
    if t == "int":
        if isinstance(raw, bool):
            raise bad()
        if isinstance(raw, int):
            return raw
        if isinstance(raw, str):
            try:
                return int(raw.strip().replace("_", ""))
            except ValueError:
                raise bad() from None
        raise bad()
    if t == "float":
        if isinstance(raw, bool):
            raise bad()
        if isinstance(raw, (int, float)):
            return float(raw)
        if isinstance(raw, str):
            try:
                return float(raw.strip())
            except ValueError:
                raise bad() from None
        raise bad()
    if t == "date":
        value = raw.isoformat() if isinstance(raw, dt.date) and not isinstance(raw, dt.datetime) else raw
        if isinstance(value, str) and (parsed := _parse_date(value.strip())) is not None:
            return parsed.isoformat()
        raise bad(" (expected YYYY-MM-DD)")
    if t == "datetime":
        value = raw.isoformat() if isinstance(raw, dt.datetime) else raw
        if isinstance(value, str) and (parsed_dt := _parse_datetime(value.strip())) is not None:
            return parsed_dt.isoformat()
        raise bad(" (expected ISO 8601, e.g. 2013-01-02T06:00:00)")
    if t in ("list", "dict"):
        value = raw
        if isinstance(raw, str):
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                if t == "list":
                    value = [item.strip() for item in raw.split(",")] if raw.strip() else []
                else:
                    raise bad(" (expected a JSON object)") from None
        if t == "list" and isinstance(value, tuple):
            value = list(value)
        if (t == "list" and not isinstance(value, list)) or (t == "dict" and not isinstance(value, dict)):
            raise bad()
        return value
    raise bad()


def _check(d: ParamDef, value: Any) -> Any:
    shown = "***" if d.secret else repr(value)
    if d.choices is not None and value not in d.choices:
        near = did_you_mean(str(value), map(str, d.choices))
        raise ParameterError(f"parameter {d.name!r}: {shown} is not one of {list(d.choices)}{near}")
    for bound, op, word in (
        (d.min, lambda a, b: a < b, "below the minimum"),
        (d.max, lambda a, b: a > b, "above the maximum"),
    ):
        if bound is None or value is None:
            continue
        try:
            bound_v = coerce(d, bound, from_cli=True)
            if op(value, bound_v):
                raise ParameterError(f"parameter {d.name!r}: {shown} is {word} {bound_v!r}")
        except TypeError:
            continue
    return value


def _example(d: ParamDef) -> str:
    examples = {
        "str": "text",
        "int": "42",
        "float": "0.5",
        "bool": "true",
        "date": "2013-01-02",
        "datetime": "2013-01-02T06:00:00",
        "list": '["a","b"] or a,b',
        "dict": '{"k": 1}',
    }
    return f"pass e.g. -p {d.name}={examples.get(d.type, 'VALUE')}"


def _parse_date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if len(value) == _ISO_DATE_LEN else None
    except ValueError:
        return None


def _parse_datetime(value: str) -> dt.datetime | None:
    if len(value) < _ISO_DATE_LEN:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None
