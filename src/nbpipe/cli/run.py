"""``nbpipe run``: one production (or explore) run of a pipeline's notebook."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from nbpipe.cli._common import ProfileOpt, ProjectOpt, console, err, load, print_error, rel
from nbpipe.cli.progress import Progress
from nbpipe.errors import ParameterError


def run(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name from nbpipe.yaml.")],
    param: Annotated[
        list[str] | None,
        typer.Option(
            "-p", "--param", help="NAME=VALUE (repeatable); VALUE env:VAR reads a secret from the environment."
        ),
    ] = None,
    params_file: Annotated[Path | None, typer.Option("--params-file", help="YAML/JSON mapping of parameters.")] = None,
    explore: Annotated[
        bool, typer.Option("--explore", help="Run in explore mode (sandboxed writes, no state).")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Run even if code, parameters and inputs are unchanged.")
    ] = False,
    resume: Annotated[
        str | None,
        typer.Option("--resume", help="Repeat a failed run (RUN_ID) with its parameters and exact input snapshot."),
    ] = None,
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Run a pipeline's notebook in production mode and write its run record."""
    from nbpipe.core.params import load_params_file, parse_cli_pairs
    from nbpipe.run.runner import Runner

    proj = load(project, profile)
    given: dict[str, Any] = {}
    if params_file is not None:
        if not params_file.is_file():
            raise ParameterError(f"params file {params_file} does not exist",
                                 hint="pass an existing YAML or JSON file to --params-file")
        given.update(load_params_file(params_file.read_text(encoding="utf-8"), str(params_file)))
    cli_pairs = parse_cli_pairs(param or [])
    given.update(cli_pairs)
    with Progress(pipeline) as progress, Runner(proj, on_progress=progress) as runner:
        result = runner.run(
            pipeline,
            given,
            from_cli=frozenset(cli_pairs),
            mode="explore" if explore else "prod",
            force=force,
            resume=resume,
        )
    if result.status == "skipped":
        console.print(
            f"[dim]–[/] {pipeline}: {escape(str(result.record.get('skipped_reason')))} (use --force to run anyway)",
            soft_wrap=True,
        )
        raise typer.Exit(0)
    if result.status == "succeeded":
        warnings = result.record["warnings"]
        warn = f" with {len(warnings)} warning(s)" if warnings else ""
        console.print(
            f"[green]✓[/] {pipeline} run {result.run_id} succeeded{warn} in {result.record['duration_s']:.1f}s"
        )
        for w in warnings:
            console.print(f"  [yellow]warning:[/] {escape(str(w))}", soft_wrap=True)
    else:
        assert result.error is not None
        print_error(result.error.message, result.error.hint, title=f"✗ {pipeline} run {result.run_id} failed:")
        err.print(f"retry: [bold]{escape(str(result.record['retry_command']))}[/]", soft_wrap=True)
    console.print(f"  record: {rel(result.run_dir)}/report.html", soft_wrap=True)
    raise typer.Exit(result.exit_code)
