"""Masking of secret values in everything nbpipe writes or prints (records, HTML, logs, store, console).

Secrets are parameters whose names match ``secrets.param_patterns`` and values read from the
environment with ``-p name=env:VAR``. The masker replaces every occurrence of their values, and of
the forms a value takes once it is written somewhere: JSON-escaped (``json.dumps``, with and
without ``ensure_ascii``), Python ``repr`` (a traceback quoting it), HTML-escaped (by Python's
``html.escape``, Jinja/markupsafe, nbconvert), and these nested once (JSON of an HTML page, the
``repr`` printed into a JSON log line).

:class:`StreamMasker` masks text that arrives in pieces (a kernel's stdout through a pipe): it holds
back the tail that could be the start of a secret until the rest arrives.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

MASK = "***"
_MIN_SECRET_LEN = 3  # masking "a" or "1" everywhere would destroy records without protecting much


def _json(s: str) -> str:
    return json.dumps(s)[1:-1]


def _json_utf8(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)[1:-1]


def _repr(s: str) -> str:
    return repr(s)[1:-1]


def _html(s: str) -> str:
    return html.escape(s, quote=True)


def _html_text(s: str) -> str:
    return html.escape(s, quote=False)


def _markupsafe(s: str) -> str:
    # Jinja's autoescape and nbconvert's filters spell the quotes as decimal references.
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("'", "&#39;").replace('"', "&#34;"))


_ENCODINGS: tuple[Callable[[str], str], ...] = (_json, _json_utf8, _repr, _html, _html_text, _markupsafe)


def variants(secret: str, depth: int = 2) -> set[str]:
    """``secret`` and the forms it takes once escaped, up to ``depth`` escapings deep."""
    found = {secret}
    frontier = {secret}
    for _ in range(depth):
        frontier = {encode(s) for s in frontier for encode in _ENCODINGS} - found
        found |= frontier
    return found


def secrets_in_env(environ: Mapping[str, str], prefix: str) -> list[str]:
    """The secret values a runner handed a kernel: one JSON value per ``<prefix><name>`` variable."""
    found = []
    for key, raw in environ.items():
        if not key.startswith(prefix):
            continue
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        found.append(value if isinstance(value, str) else json.dumps(value))
    return found


class Masker:
    """Replace secret values (and their escaped forms) in strings and JSON-like structures."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values: set[str] = set()
        for s in secrets:
            if isinstance(s, str) and len(s) >= _MIN_SECRET_LEN:
                values |= variants(s)
        self._values = sorted(values, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._values)

    @property
    def longest(self) -> int:
        """Length of the longest form masked (0 without secrets)."""
        return len(self._values[0]) if self._values else 0

    def partial_suffix(self, value: str) -> int:
        """Length of the longest end of ``value`` that is the start of a secret (0: none can be)."""
        for k in range(min(len(value), self.longest - 1), 0, -1):
            tail = value[-k:]
            if any(secret.startswith(tail) for secret in self._values):
                return k
        return 0

    def text(self, value: str) -> str:
        for secret in self._values:
            if secret in value:
                value = value.replace(secret, MASK)
        return value

    def __call__(self, value: str) -> str:
        return self.text(value)

    def data(self, value: Any) -> Any:
        """Mask strings anywhere inside dicts, lists and tuples."""
        if not self._values:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.data(k): self.data(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.data(v) for v in value]
        return value


class StreamMasker:
    """Mask text written in pieces: a secret split across two pieces is masked too.

    :meth:`feed` returns what can be written now; only a tail that is the start of a secret (or of
    one of its escaped forms) is held back, until more text arrives or :meth:`flush` is called.
    The masker may be swapped while text streams (a kernel started ahead learns its run's secrets
    when a run takes it).
    """

    def __init__(self, masker: Masker | None = None) -> None:
        self.masker = masker or Masker()
        self._held = ""

    def feed(self, chunk: str) -> str:
        text = self.masker.text(self._held + chunk)
        keep = self.masker.partial_suffix(text)
        self._held = text[len(text) - keep:] if keep else ""
        return text[: len(text) - keep]

    def flush(self) -> str:
        text, self._held = self.masker.text(self._held), ""
        return text
