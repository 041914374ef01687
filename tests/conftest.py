"""Shared fixtures: throwaway projects with real notebooks, real kernels and a real store."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.projects import build_project

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
# Kernels started by tests must not read the developer's Jupyter config or write to ~.
os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")


ProjectFactory = Callable[..., Path]


@pytest.fixture
def make_project(tmp_path: Path) -> ProjectFactory:
    """Create a project in a temp dir: ``make_project(pipelines={...}, notebooks=[...], **config)``.

    Notebooks named in ``notebooks`` are copied from ``tests/notebooks``; pipelines map names to
    pipeline config dicts (``notebook`` defaults to ``<name>.ipynb``). See
    :func:`tests.support.projects.build_project`.
    """

    def factory(
        pipelines: dict[str, dict[str, Any]] | None = None, notebooks: list[str] | None = None, **config: Any
    ) -> Path:
        return build_project(tmp_path / "project", pipelines=pipelines, notebooks=notebooks or (), **config)

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
