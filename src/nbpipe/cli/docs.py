"""``nbpipe docs``: write the static data catalog site."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nbpipe.cli._common import ProfileOpt, ProjectOpt, load, rel, say


def docs(
    out: Annotated[
        Path | None, typer.Option("--out", help="Output directory (default: <runs dir>/_catalog).")
    ] = None,
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Write the data catalog: datasets and pipelines with owners, schemas, quality, freshness, lineage."""
    from nbpipe.ops.catalog import build_docs
    from nbpipe.run.store import RunStore

    proj = load(project, profile)
    with RunStore(proj.store_url) as store:
        result = build_docs(proj, store, out)
    say(f"catalog: {rel(result.index)} ({result.datasets} datasets, {result.pipelines} pipelines)")
    for problem in result.problems:
        say(("warning:", "yellow"), " ", problem)
    if result.undeclared:
        say((f"{result.undeclared} read(s)/write(s) runs made are not declared in nbpipe.yaml; "
             "see `nbpipe lineage`", "yellow"))
