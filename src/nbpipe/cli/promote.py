"""``nbpipe promote`` and ``nbpipe contracts diff``: freezing a notebook's contracts, checking them."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from nbpipe.cli._common import JsonOpt, ProfileOpt, ProjectOpt, console, load
from nbpipe.cli.progress import Progress

contracts_app = typer.Typer(help="Schema contracts of datasets.", no_args_is_help=True)


def promote(
    target: Annotated[str, typer.Argument(help="Notebook path or pipeline name.")],
    yes: Annotated[bool, typer.Option("--yes", help="Accept breaking contract changes (major version bump).")] = False,
    reuse: Annotated[
        str | None,
        typer.Option("--reuse", help="Reuse a succeeded explore run (RUN_ID, or 'latest') instead of running."),
    ] = None,
    margin: Annotated[
        float, typer.Option("--margin", min=0.0, help="Widen observed ranges/row counts in suggested checks.")
    ] = 0.1,
    param: Annotated[
        list[str] | None, typer.Option("-p", "--param", help="NAME=VALUE for the explore run (repeatable).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change (breaking changes included); write nothing.")
    ] = False,
    as_json: JsonOpt = False,
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Freeze an explored notebook: contracts, suggested suites and its nbpipe.yaml pipeline entry."""
    from nbpipe.core.params import parse_cli_pairs
    from nbpipe.promote import promote as promote_service

    proj = load(project, profile)
    with Progress(f"promote {target}") as progress:
        result = promote_service(
            proj,
            target,
            yes=yes,
            reuse_run=reuse,
            margin=margin,
            params=parse_cli_pairs(param or []),
            on_progress=progress,
            dry_run=dry_run,
        )
    if as_json:
        console.print_json(json.dumps(result.to_dict(), default=str))
        return
    console.print(result.render(), markup=False, highlight=False, soft_wrap=True)


@contracts_app.command("diff")
def contracts_diff(
    dataset: Annotated[str, typer.Argument(help="Dataset name from nbpipe.yaml.")],
    as_json: JsonOpt = False,
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Compare a dataset's contract with its current data; exit 7 on a breaking difference."""
    from nbpipe.errors import ContractViolationError
    from nbpipe.promote import data_drift

    drift = data_drift(load(project, profile), dataset)
    if as_json:
        console.print_json(json.dumps(drift.to_dict(), default=str))
    else:
        console.print(drift.render(), markup=False, highlight=False, soft_wrap=True)
    if drift.breaking:
        raise typer.Exit(ContractViolationError.exit_code)
