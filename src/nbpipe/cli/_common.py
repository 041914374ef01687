"""What every command module shares: the two consoles, the project options, small print helpers.

Command modules import only typer, rich and the standard library at module level; services and
their heavy dependencies (papermill, pyspark, sqlalchemy) are imported inside the command
functions, so ``nbpipe --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:  # pragma: no cover
    from nbpipe.core.config import Project

console = Console(highlight=False)
err = Console(stderr=True, highlight=False)

ProjectOpt = Annotated[Path | None, typer.Option("--project", help="Project directory (default: walk up from cwd).")]
ProfileOpt = Annotated[
    str | None, typer.Option("--profile", help="Profile from nbpipe.yaml (default: dev or $NBPIPE_PROFILE).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def load(project: Path | None, profile: str | None) -> Project:
    """The project named by ``--project``/``--profile`` (or found from the working directory)."""
    from nbpipe.core.config import load_project

    return load_project(project_dir=project, profile=profile)


def rel(path: Path | str) -> str:
    """``path`` relative to the working directory when it is below it, else as given."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def print_error(message: str, hint: str | None, *, title: str = "error:") -> None:
    """Print an error and its hint to stderr; the texts are printed as they are, never as markup."""
    err.print(f"[bold red]{escape(title)}[/] {escape(message)}", soft_wrap=True)
    if hint:
        err.print(f"[yellow]hint:[/] {escape(hint)}", soft_wrap=True)
