"""Forwarding for modules that moved in the 0.2 layout (one release, with a ``DeprecationWarning``)."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any


def moved(old: str, new: str) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``old`` that warns and returns the attribute of ``new``."""

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        value = getattr(importlib.import_module(new), name, _MISSING)
        if value is _MISSING:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        warnings.warn(f"{old}.{name} moved to {new}.{name}; import it from there "
                      f"({old} will be removed in the next release)", DeprecationWarning, stacklevel=2)
        return value

    return __getattr__


_MISSING = object()
