"""``nbpipe init``: a new project that runs at once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nbpipe.cli._common import console, rel


def init(
    directory: Annotated[Path, typer.Argument(help="Project directory (created if missing).")] = Path("."),
    name: Annotated[str | None, typer.Option("--name", help="Project name (default: the directory name).")] = None,
) -> None:
    """Create a project: nbpipe.yaml, an example notebook, contracts/, expectations/, runs/."""
    from nbpipe.promote.scaffold import init_project

    created, kept = init_project(directory, name)
    for path in created:
        console.print(f"[green]created[/] {rel(path)}")
    for path in kept:
        console.print(f"[dim]kept[/] {rel(path)} (exists)")
    console.print(f"next: cd {directory} && nbpipe run hello -p run_date=2024-01-31")
