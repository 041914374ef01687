"""Throwaway nbpipe projects for tests.

* :func:`write_config` writes ``nbpipe.yaml`` from keyword sections (``project=``, ``profiles=``,
  ``datasets=``, ``pipelines=`` …), exactly as given; :func:`load` also loads it.
* :func:`build_project` is the ``make_project`` fixture's builder: pipelines with their notebooks
  copied from ``tests/notebooks``.
* :class:`ProjectForTest` is a loaded project plus what data-plane tests do to it: save a contract,
  land a source file, open a run (:class:`~tests.support.scope.ScopeForTest`) on a given Spark session.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from nbpipe.core.config import Project, load_project
from nbpipe.core.contracts import contract_from_schema, save_contract
from nbpipe.core.protocol import Mode
from tests.support.scope import ScopeForTest

FIXTURE_NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def write_config(root: Path, **config: Any) -> Path:
    """Write ``root/nbpipe.yaml`` holding ``config`` (keys in the order given); create ``root``; return it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "nbpipe.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return root


def load(root: Path, *, profile: str | None = None, **config: Any) -> Project:
    """:func:`write_config`, then load the project (with ``profile``, else the default one)."""
    write_config(root, **config)
    return load_project(project_dir=root, profile=profile)


def copy_notebook(root: Path, name: str, as_name: str | None = None) -> Path:
    """Copy ``tests/notebooks/<name>.ipynb`` to ``root/<as_name or name>.ipynb``; return the copy."""
    target = root / f"{as_name or name}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURE_NOTEBOOKS / f"{name}.ipynb", target)
    return target


def build_project(
    root: Path,
    *,
    pipelines: Mapping[str, Mapping[str, Any]] | None = None,
    notebooks: Iterable[str] = (),
    project: str = "test",
    **config: Any,
) -> Path:
    """A project named ``project`` in ``root`` with ``pipelines`` and the rest of ``config``.

    Each pipeline's ``notebook`` defaults to ``<name>.ipynb``; the fixture notebooks named by the
    pipelines or in ``notebooks`` are copied from ``tests/notebooks`` (names without a fixture are
    left for the test to write).
    """
    pipelines = pipelines or {}
    for name in set(notebooks) | {
        str(p.get("notebook", f"{n}.ipynb")).removesuffix(".ipynb") for n, p in pipelines.items()
    }:
        if (FIXTURE_NOTEBOOKS / f"{name}.ipynb").exists():
            copy_notebook(root, name)
    return write_config(
        root,
        project=project,
        **config,
        pipelines={n: {"notebook": f"{n}.ipynb", **p} for n, p in pipelines.items()},
    )


class ProjectForTest:
    """A project written to ``root`` from ``config`` and loaded, with the Spark session its runs use."""

    def __init__(self, root: Path, *, spark: Any = None, **config: Any) -> None:
        self.root = root
        self.spark = spark
        self.project = load(root, **config)

    @property
    def warehouse(self) -> Path:
        return self.project.warehouse

    def contract(self, dataset: str, fields: Sequence[Mapping[str, Any]], **options: Any) -> Path:
        """Save ``contracts/<dataset>.yaml`` from a schema (``options``: version, partition_by, …)."""
        return save_contract(contract_from_schema(dataset, fields, **options),
                             self.root / "contracts" / f"{dataset}.yaml")

    def land(self, dataset: str, rel: str, text: str) -> Path:
        """Write ``text`` to ``rel`` under the source ``dataset``'s path (``landing/raw/a.csv``)."""
        path = self.project.path(self.project.dataset(dataset).path or dataset) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def scope(
        self, run_id: str = "r1", *, mode: Mode = "prod", pipeline: str = "ingest", runs: Path | None = None
    ) -> ScopeForTest:
        """A run of ``pipeline`` in ``runs/<pipeline>/<run_id>`` (``runs`` defaults to ``root/runs``)."""
        run_dir = (runs or self.root / "runs") / pipeline / run_id
        return ScopeForTest(self.project, self.spark, run_dir, run_id=run_id, mode=mode, pipeline=pipeline)
