"""A fresh copy of the worked example in a temp dir, for the benchmarks that run it."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def example_copy(prefix: str, land_days: int = 0) -> Path:
    """Copy ``nbpipe.yaml``, notebooks, contracts and suites to ``<tmp>/flights``; land ``land_days`` days."""
    root = Path(tempfile.mkdtemp(prefix=prefix)) / "flights"
    root.mkdir()
    shutil.copy(REPO / "nbpipe.yaml", root / "nbpipe.yaml")
    for folder in ("notebooks", "contracts", "expectations"):
        shutil.copytree(REPO / folder, root / folder)
    if land_days:
        from nbpipe.examples.flights import land

        land(root, days=land_days)
    return root
