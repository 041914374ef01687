"""Run parameters: infer types from the ``parameters`` cell, coerce and validate user values.

Pure: no kernel, no papermill. Values are data: they are parsed with ``json``/``yaml``/
``ast.literal_eval`` and handed to papermill's translators, never evaluated as code.
"""

from __future__ import annotations

import ast
import fnmatch
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from nbpipe.core.config import ParamSpec
from nbpipe.core.paramtypes import EXPECTED, check_declaration, convert, infer_type
from nbpipe.errors import ConfigError, ParameterError, did_you_mean

__all__ = [
    "NotebookParam", "ParamDef", "ResolvedParams", "build_definitions", "coerce", "infer_type", "is_secret_name",
    "literal_default", "load_params_file", "parse_cli_pairs", "resolve",
]  # fmt: skip


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
    env_variables: dict[str, str] = field(default_factory=dict)  # parameter -> the variable ``env:VAR`` read

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


def is_secret_name(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name.lower(), p.lower()) for p in patterns)


def build_definitions(
    notebook_params: list[NotebookParam],
    specs: Mapping[str, ParamSpec],
    secret_patterns: list[str],
    *,
    pipeline: str | None = None,
) -> dict[str, ParamDef]:
    """Combine the notebook's parameters with the pipeline's declared types.

    Raises:
        ConfigError: a declared ``choices``, ``min`` or ``max`` is not of the parameter's type (the
            type declared in nbpipe.yaml, else the one of the notebook's default), or ``min > max``.
    """
    defaults = {p.name: literal_default(p.default_source) for p in notebook_params}
    defs: dict[str, ParamDef] = {}
    for name in [*defaults, *(n for n in specs if n not in defaults)]:
        # A name declared in nbpipe.yaml but not in the notebook is still a valid, injectable name.
        default, literal = defaults.get(name, (None, False))
        spec = specs.get(name, ParamSpec())
        typ = spec.type or (infer_type(default) if literal and default is not None else "str")
        try:
            choices, low, high = check_declaration(typ, spec.choices, spec.min, spec.max)
        except ValueError as exc:
            where = f"pipelines.{pipeline}.params.{name}" if pipeline else f"parameter {name!r}"
            inferred = "" if spec.type else " (the type of its default in the notebook; declare 'type:' to change it)"
            raise ConfigError(
                f"{where}: {exc}; the parameter's type is {typ}{inferred}",
                hint="fix 'choices', 'min' and 'max' of the parameter in nbpipe.yaml",
            ) from None
        defs[name] = ParamDef(
            name=name,
            type=typ,
            default=default,
            has_default=literal,
            required=spec.required,
            choices=tuple(choices) if choices is not None else None,
            min=low,
            max=high,
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
    fix = "write one NAME: VALUE per line (YAML) or a JSON object"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # The problem and its position, never the file's text: it may hold secrets.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ParameterError(f"{source} is not valid YAML/JSON{where}: {problem}", hint=fix) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParameterError(f"{source} must hold a mapping of parameter names to values, not a {type(data).__name__}",
                             hint=fix)
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
        from_env = isinstance(raw, str) and raw.startswith("env:")
        if from_env:
            var = raw[4:]
            if var not in environ:
                raise ParameterError(
                    f"parameter {name!r} reads environment variable {var!r}, which is not set",
                    hint=f"export {var}=... before running, or pass the value directly",
                )
            raw = environ[var]
            out.env_variables[name] = var
            out.secret_names.add(name)
            if raw:
                out.env_secret_values.append(raw)
        secret = d.secret or from_env  # a value read from the environment is never echoed
        out.values[name] = _check(d, coerce(d, raw, from_cli=name in from_cli, secret=secret), secret=secret)
    return out


def coerce(d: ParamDef, raw: Any, *, from_cli: bool = True, secret: bool = False) -> Any:
    """Turn ``raw`` into a value of type ``d.type`` or raise a ParameterError naming it.

    ``from_cli`` is kept for callers; command-line strings and file values convert alike. The
    value is shown as ``***`` when the parameter is secret or ``secret`` is set.
    """
    try:
        return convert(d.type, raw)
    except ValueError as exc:
        shown = "***" if d.secret or secret else repr(raw)
        reason = str(exc) if str(exc).startswith(" (") else EXPECTED.get(d.type, "")
        raise ParameterError(
            f"parameter {d.name!r}: {shown} is not a valid {d.type}{reason}", hint=_example(d)
        ) from None


def _check(d: ParamDef, value: Any, *, secret: bool = False) -> Any:
    hidden = d.secret or secret
    shown = "***" if hidden else repr(value)
    if d.choices is not None and value not in d.choices:
        near = "" if hidden else did_you_mean(str(value), map(str, d.choices))
        raise ParameterError(f"parameter {d.name!r}: {shown} is not one of {list(d.choices)}{near}",
                             hint=f"pass one of them, e.g. -p {d.name}={d.choices[0]}" if d.choices else None)
    if value is None or (d.min is None and d.max is None):
        return value
    if isinstance(value, float) and math.isnan(value):
        raise ParameterError(f"parameter {d.name!r}: {shown} is not a number, so it is not within its bounds",
                             hint=_bounds(d))
    if d.min is not None and value < d.min:
        raise ParameterError(f"parameter {d.name!r}: {shown} is below the minimum {d.min!r}", hint=_bounds(d))
    if d.max is not None and value > d.max:
        raise ParameterError(f"parameter {d.name!r}: {shown} is above the maximum {d.max!r}", hint=_bounds(d))
    return value


def _bounds(d: ParamDef) -> str:
    low = "" if d.min is None else f"{d.min!r} <= "
    high = "" if d.max is None else f" <= {d.max!r}"
    return f"pass a value with {low}{d.name}{high}"


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
