"""The panel's parameter form: one typed field per parameter, validated like ``nbpipe run``.

The definitions come from ``nbpipe panel-params`` (the notebook's ``parameters`` cell overlaid by
``nbpipe.yaml``) and become :class:`~nbpipe.core.params.ParamDef` objects again, so each field is
checked by :func:`nbpipe.core.params.resolve`, the code ``nbpipe run -p NAME=VALUE`` runs. The form
turns its values into ``-p NAME=VALUE`` arguments; a secret's value never enters the arguments
(they are visible to ``ps``): it travels in the child's environment as
``NBPIPE_PANEL_SECRET_<NAME>`` and the argument is ``-p NAME=env:NBPIPE_PANEL_SECRET_<NAME>``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nbpipe.core.params import ParamDef, resolve
from nbpipe.core.paramtypes import convert
from nbpipe.errors import ParameterError

SECRET_PREFIX = "NBPIPE_PANEL_SECRET_"


def definitions(spec: list[Mapping[str, Any]]) -> tuple[dict[str, ParamDef], dict[str, str]]:
    """``(ParamDef by name, description by name)`` from ``nbpipe panel-params`` output."""
    defs: dict[str, ParamDef] = {}
    notes: dict[str, str] = {}
    for p in spec:
        typ = str(p["type"])
        choices = p.get("choices")
        defs[str(p["name"])] = ParamDef(
            name=str(p["name"]), type=typ, default=p.get("default"), has_default=bool(p.get("has_default")),
            required=bool(p.get("required")), secret=bool(p.get("secret")),
            choices=tuple(convert(typ, c) for c in choices) if choices is not None else None,
            min=convert(typ, p.get("min")), max=convert(typ, p.get("max")),
        )
        notes[str(p["name"])] = str(p.get("description") or "")
    return defs, notes


def secret_variable(name: str) -> str:
    """The environment variable that carries the secret parameter ``name`` to ``nbpipe run``."""
    return SECRET_PREFIX + re.sub(r"[^A-Za-z0-9_]", "_", name).upper()


def as_text(d: ParamDef, value: Any) -> str | None:
    """A field's value as the text of ``-p NAME=TEXT`` (None: left empty)."""
    if value is None or (isinstance(value, str) and value.strip() == "" and d.type != "str"):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


@dataclass
class Arguments:
    """What ``nbpipe run`` receives: ``-p`` pairs (secrets by variable) and the secrets' variables."""

    pairs: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def argv(self) -> list[str]:
        return [a for pair in self.pairs for a in ("-p", pair)]


def check_field(d: ParamDef, text: str | None, given: bool) -> str | None:
    """The error of one field (as ``nbpipe run`` words it), or None when it is valid."""
    try:
        resolve({d.name: d}, {d.name: text} if given and text is not None else {},
                from_cli=frozenset({d.name}), environ={})
    except ParameterError as exc:
        return exc.message
    return None


def arguments(defs: Mapping[str, ParamDef], texts: Mapping[str, str | None]) -> Arguments:
    """The ``-p`` arguments for the given field texts; secrets go by environment variable."""
    out = Arguments()
    for name, text in texts.items():
        if text is None:
            continue
        if defs[name].secret:
            var = secret_variable(name)
            out.env[var] = text
            out.pairs.append(f"{name}=env:{var}")
        else:
            out.pairs.append(f"{name}={text}")
    return out


class ParamForm:
    """The ipywidgets form: a typed field per parameter with its error beside it."""

    def __init__(self, defs: Mapping[str, ParamDef], notes: Mapping[str, str]) -> None:
        import ipywidgets as w

        self.defs = dict(defs)
        self.fields: dict[str, Any] = {}
        self.errors: dict[str, Any] = {}
        rows = []
        for name, d in self.defs.items():
            field_ = self._field(d, notes.get(name, ""))
            error = w.HTML("", layout=w.Layout(margin="0 0 0 8px"))
            error.add_class("nbpipe-param-error")
            field_.observe(lambda _change, n=name: self.check(n), names="value")
            self.fields[name], self.errors[name] = field_, error
            rows.append(w.HBox([field_, error]))
        self.widget = w.VBox(rows or [w.HTML("<i>This pipeline takes no parameters.</i>")])

    def _field(self, d: ParamDef, note: str) -> Any:
        import ipywidgets as w

        default = d.default if d.has_default else None
        label = d.name + (" *" if d.required else "")
        common: dict[str, Any] = {"description": label, "tooltip": note or f"{d.type} parameter",
                                  "style": {"description_width": "140px"}}
        if d.secret:
            return w.Password(value="", placeholder="secret (never shown or recorded)", **common)
        if d.choices is not None:
            options = [("", None), *[(str(c), c) for c in d.choices]]
            return w.Dropdown(options=options, value=default if default in d.choices else None, **common)
        if d.type == "bool":
            return w.Checkbox(value=bool(default), indent=False, **common)
        if d.type == "date":
            value = dt.date.fromisoformat(default) if isinstance(default, str) and _is_date(default) else None
            return w.DatePicker(value=value, **common)
        if d.type == "int":
            return w.IntText(value=default if isinstance(default, int) else 0, **common)
        if d.type == "float":
            return w.FloatText(value=float(default) if isinstance(default, (int, float)) else 0.0, **common)
        text = json.dumps(default) if isinstance(default, (list, dict)) else ("" if default is None else str(default))
        return w.Text(value=text, placeholder=d.type, **common)

    def text(self, name: str) -> str | None:
        """The field's value as ``-p`` text (None: empty, so the notebook's default applies)."""
        return as_text(self.defs[name], self.fields[name].value)

    def check(self, name: str) -> str | None:
        """Validate one field and show its error beside it."""
        import html

        text = self.text(name)
        error = check_field(self.defs[name], text, given=text is not None)
        self.errors[name].value = "" if error is None else f"<span style='color:#cf222e'>{html.escape(error)}</span>"
        return error

    def validate(self) -> Arguments | None:
        """All fields checked (errors shown); the run's arguments, or None when one is invalid."""
        bad = [name for name in self.defs if self.check(name) is not None]
        if bad:
            return None
        return arguments(self.defs, {name: self.text(name) for name in self.defs})


def _is_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True
