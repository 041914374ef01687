"""What every command module shares: the two consoles, the project options, small print helpers.

Command modules import only typer, rich and the standard library at module level; services and
their heavy dependencies (papermill, pyspark, sqlalchemy) are imported inside the command
functions, so ``nbpipe --help`` stays fast.

Values (parameters, run ids, paths, messages, data) are printed as plain text, never as rich
markup or ``:emoji:`` codes: :func:`say` assembles a line from plain strings and ``(text, style)``
pairs, :func:`plain` wraps one value for a table cell.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

if TYPE_CHECKING:  # pragma: no cover
    from nbpipe.core.config import Project

console = Console(highlight=False, emoji=False)
err = Console(stderr=True, highlight=False, emoji=False)

ProjectOpt = Annotated[Path | None, typer.Option("--project", help="Project directory (default: walk up from cwd).")]
ProfileOpt = Annotated[
    str | None, typer.Option("--profile", help="Profile from nbpipe.yaml (default: dev or $NBPIPE_PROFILE).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]

Part = str | tuple[str, str]  # plain text, or (text, rich style such as "bold red")


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


def plain(value: Any, style: str = "") -> Text:
    """``value`` as text that is printed exactly as it is (no markup, no emoji codes)."""
    return Text("" if value is None else str(value), style=style)


def line(*parts: Part) -> Text:
    """One line from plain strings and ``(text, style)`` pairs; no part is read as markup."""
    return Text.assemble(*parts)


def say(*parts: Part, to: Console | None = None) -> None:
    """Print :func:`line` of ``parts`` to stdout (or ``to``), wrapped only at the terminal's edge."""
    (to or console).print(line(*parts), soft_wrap=True)


def print_error(message: str, hint: str | None, *, title: str = "error:") -> None:
    """Print an error and its hint to stderr; the texts are printed as they are, never as markup."""
    say((title, "bold red"), " ", message, to=err)
    if hint:
        say(("hint:", "yellow"), " ", hint, to=err)
