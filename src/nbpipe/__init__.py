"""nbpipe: explore data in notebooks, then promote them to strict, incremental production pipelines.

In a notebook::

    import nbpipe
    ctx = nbpipe.context()          # explore in JupyterLab, prod when run by `nbpipe run`
    df = ctx.read("raw_flights")
"""

from __future__ import annotations

import sys
from importlib import metadata

# jsonschema's optional IRI format checker (rfc3987-syntax) builds a grammar at import time that
# costs ~2 s in every process importing nbformat/papermill/nbconvert (measured: import papermill
# 2.6 s → 0.9 s without it). nbformat's schema uses no IRI formats, so nothing is lost.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

from nbpipe.context import RunContext, context  # noqa: E402
from nbpipe.errors import NbpipeError  # noqa: E402

try:
    __version__ = metadata.version("nbpipe")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["NbpipeError", "RunContext", "__version__", "context"]
