"""``nbpipe docs``: build the static data catalog site from config, contracts, suites, disk and the run store.

:func:`build_docs` gathers the facts (:mod:`.facts`), the lineage graph
(:mod:`nbpipe.ops.lineage_graph`) and hands them to the renderer (:mod:`nbpipe.report.catalog`).
The site's default home is ``<runs dir>/_catalog/`` (:data:`CATALOG_DIR`): beside the run
directories, so a run report links to ``../../_catalog/datasets/<dataset>.html`` and a pipeline page
to ``../../<pipeline>/<run_id>/report.html`` whatever the runs directory is (no pipeline can be
called ``_catalog``: :func:`default_out` refuses one). Publish the runs directory and both work.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbpipe.core.config import Project
from nbpipe.core.events import utcnow
from nbpipe.errors import ConfigError
from nbpipe.report.catalog.site import CATALOG_DIR

__all__ = ["CATALOG_DIR", "DocsResult", "build_docs", "default_out"]


@dataclass(frozen=True)
class DocsResult:
    """What ``nbpipe docs`` wrote."""

    index: Path
    datasets: int
    pipelines: int
    undeclared: int
    problems: tuple[str, ...] = ()  # e.g. a contract that does not load; shown on its page too


def default_out(project: Project) -> Path:
    """``<runs dir>/_catalog``: where the run reports' lineage sections link to.

    Raises:
        ConfigError: a pipeline is called ``_catalog`` (its run directories would live there).
    """
    if CATALOG_DIR in project.config.pipelines:
        raise ConfigError(f"pipeline {CATALOG_DIR!r} has its run directories where the catalog goes",
                          hint="rename the pipeline in nbpipe.yaml, or pass --out DIR to `nbpipe docs`")
    return project.runs_dir / CATALOG_DIR


def _stale(folder: Path, keep: set[str]) -> None:
    for page in folder.glob("*.html"):
        if page.name not in keep:
            page.unlink()


def build_docs(project: Project, store: Any, out: Path | None = None, *, now: dt.datetime | None = None) -> DocsResult:
    """Write the catalog site into ``out`` (default :func:`default_out`) and say what it holds.

    Raises:
        ConfigError: ``out`` exists and is not a directory.
        StoreError: the run store cannot be read.
    """
    from nbpipe.ops.catalog.facts import collect
    from nbpipe.ops.lineage_graph import project_graph
    from nbpipe.report.catalog.site import DATASETS_DIR, PIPELINES_DIR, page_name, render_site

    out = Path(out) if out is not None else default_out(project)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a directory",
                          hint="pass a directory (it is created when missing), e.g. --out site")
    now = now or utcnow()
    graph = project_graph(project, store)
    datasets, pipelines = collect(project, store, graph, now=now)
    graphs = {node: graph.around_ids([node]).to_dict() for node in graph.nodes}
    index = render_site(out, project=project.config.project, datasets=datasets, pipelines=pipelines,
                        graphs=graphs, runs_dir=project.runs_dir, now=now, overview=graph.to_dict())
    _stale(out / DATASETS_DIR, {page_name(d.name) for d in datasets})
    _stale(out / PIPELINES_DIR, {page_name(p.name) for p in pipelines})
    problems = tuple(f"dataset {d.name!r}: {d.contract_error}" for d in datasets if d.contract_error)
    return DocsResult(index, len(datasets), len(pipelines), len(graph.undeclared), problems)
