"""nbpipe: explore data in notebooks, then promote them to strict, incremental production pipelines.

In a notebook::

    import nbpipe
    ctx = nbpipe.context()          # explore in JupyterLab, prod when run by `nbpipe run`
    df = ctx.read("raw_flights")

``context`` and ``RunContext`` are loaded on first use (PEP 562), so ``import nbpipe.errors`` or
the runner process does not load the kernel side.
"""

from __future__ import annotations

import sys
from importlib import metadata
from typing import TYPE_CHECKING, Any

# jsonschema's optional IRI format checker (rfc3987-syntax) builds a grammar at import time that
# costs ~2 s in every process importing nbformat/papermill/nbconvert (measured: import papermill
# 2.6 s → 0.9 s without it). nbformat's schema uses no IRI formats, so nothing is lost.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

from nbpipe.errors import NbpipeError  # noqa: E402

if TYPE_CHECKING:  # pragma: no cover
    from nbpipe.kernel.context import RunContext, context

try:
    __version__ = metadata.version("nbpipe")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["NbpipeError", "RunContext", "__version__", "context"]


def __getattr__(name: str) -> Any:
    if name in ("context", "RunContext"):
        from nbpipe.kernel import context as _module

        return getattr(_module, name)
    raise AttributeError(f"module 'nbpipe' has no attribute {name!r}")
