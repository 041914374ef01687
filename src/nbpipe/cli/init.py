"""``nbpipe init``: a new project that runs at once."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from nbpipe.cli._common import rel, say


def init(
    directory: Annotated[Path, typer.Argument(help="Project directory (created if missing).")] = Path("."),
    name: Annotated[str | None, typer.Option("--name", help="Project name (default: the directory name).")] = None,
) -> None:
    """Create a project: nbpipe.yaml, an example notebook, contracts/, expectations/, runs/."""
    from nbpipe.errors import NbpipeError
    from nbpipe.promote.scaffold import init_project

    try:
        created, kept = init_project(directory, name)
    except OSError as exc:
        raise NbpipeError(
            f"cannot create a project in {directory}: {exc.strerror or exc}"
            + (f" ({exc.filename})" if exc.filename else ""),
            hint="pass a directory you can write to (it is created if missing)",
        ) from None
    for path in created:
        say(("created", "green"), f" {rel(path)}")
    for path in kept:
        say(("kept", "dim"), f" {rel(path)} (exists)")
    say(f"next: cd {shlex.quote(str(directory))} && nbpipe run hello -p run_date=2024-01-31")
