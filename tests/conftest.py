"""Shared fixtures: throwaway projects with real notebooks, real kernels and a real store."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

HERE = Path(__file__).parent
FIXTURE_NOTEBOOKS = HERE / "notebooks"

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
# Kernels started by tests must not read the developer's Jupyter config or write to ~.
os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")


ProjectFactory = Callable[..., Path]


@pytest.fixture
def make_project(tmp_path: Path) -> ProjectFactory:
    """Create a project in a temp dir: ``make_project(pipelines={...}, notebooks=[...], **config)``.

    Notebooks named in ``notebooks`` are copied from ``tests/notebooks``; pipelines map names to
    pipeline config dicts (``notebook`` defaults to ``<name>.ipynb``).
    """

    def factory(
        pipelines: dict[str, dict[str, Any]] | None = None, notebooks: list[str] | None = None, **config: Any
    ) -> Path:
        root = tmp_path / "project"
        root.mkdir(exist_ok=True)
        pipelines = pipelines or {}
        for name in set(notebooks or []) | {
            p.get("notebook", f"{n}.ipynb").removesuffix(".ipynb") for n, p in pipelines.items()
        }:
            src = FIXTURE_NOTEBOOKS / f"{name}.ipynb"
            if src.exists():
                shutil.copy(src, root / f"{name}.ipynb")
        doc: dict[str, Any] = {"project": "test"}
        doc.update(config)
        doc["pipelines"] = {n: {"notebook": f"{n}.ipynb", **p} for n, p in pipelines.items()}
        (root / "nbpipe.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        return root

    return factory


@pytest.fixture
def runner_for() -> Any:
    """``runner_for(root)`` → a Runner on that project; closed after the test."""
    from nbpipe.core.config import load_project
    from nbpipe.run.runner import Runner

    made: list[Runner] = []

    def factory(root: Path, **kwargs: Any) -> Runner:
        runner = Runner(load_project(project_dir=root), **kwargs)
        made.append(runner)
        return runner

    yield factory
    for r in made:
        r.close()
