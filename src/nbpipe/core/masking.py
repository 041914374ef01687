"""Masking of secret values in everything nbpipe writes (records, HTML, logs, store).

Secrets are parameters whose names match ``secrets.param_patterns`` and values read from the
environment with ``-p name=env:VAR``. The masker replaces every occurrence of their values.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

MASK = "***"
_MIN_SECRET_LEN = 3  # masking "a" or "1" everywhere would destroy records without protecting much


class Masker:
    """Replace secret values in strings and JSON-like structures."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = {s for s in secrets if isinstance(s, str) and len(s) >= _MIN_SECRET_LEN}
        # Also mask the forms a value takes once JSON-encoded (quotes and backslashes escaped).
        for s in list(values):
            encoded = json.dumps(s)[1:-1]
            if encoded != s:
                values.add(encoded)
        self._values = sorted(values, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._values)

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
