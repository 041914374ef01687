"""Run a notebook's tagged cells in this process, without a kernel.

A pipeline notebook keeps its data logic in cells tagged ``transform``; running those with chosen
inputs (after the ``parameters`` cell) tests the logic on its own, and lets a benchmark time the
same transformations without papermill, records or gates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat


def run_tagged_cells(path: Path, inputs: dict[str, Any] | None = None,
                     tags: tuple[str, ...] = ("parameters", "transform")) -> dict[str, Any]:
    """Execute ``path``'s cells tagged ``tags[0]``, bind ``inputs``, run the later tags; return the namespace.

    ``inputs`` are bound after the first tag's cells, so they override the parameters' defaults.
    """
    nb = nbformat.read(path, as_version=4)
    ns: dict[str, Any] = {}
    for i, tag in enumerate(tags):
        for cell in nb.cells:
            if tag in cell.metadata.get("tags", []):
                exec(compile(cell.source, path.name, "exec"), ns)
        if i == 0:
            ns.update(inputs or {})
    return ns
