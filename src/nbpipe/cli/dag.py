"""``nbpipe dag run``: pipelines in dependency order, and the outcome table ``demo`` prints too."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from nbpipe.cli._common import ProfileOpt, ProjectOpt, console, err, load, plain, say
from nbpipe.cli.progress import Progress

if TYPE_CHECKING:  # pragma: no cover
    from nbpipe.ops._execute import Outcome

dag_app = typer.Typer(help="Run pipelines in dependency order.", no_args_is_help=True)

_COLORS = {"succeeded": "green", "failed": "red", "skipped": "dim", "upstream_failed": "yellow"}


@dag_app.command("run")
def dag_run(
    pipelines: Annotated[
        list[str] | None, typer.Argument(help="Pipelines to run (with their upstream); all if none.")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("-p", "--param", help="NAME=VALUE for every pipeline that declares NAME.")
    ] = None,
    parallel: Annotated[int, typer.Option("--parallel", min=1, help="Pipelines run at once.")] = 1,
    force: Annotated[bool, typer.Option("--force", help="Run even when up to date.")] = False,
    local_spark: Annotated[
        bool, typer.Option("--local-spark", help="Let every notebook start its own Spark instead of sharing one.")
    ] = False,
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Run pipelines in dependency order; downstream of a failure is not run."""
    from nbpipe.core.params import parse_cli_pairs
    from nbpipe.ops.dag import declared_params, run_dag

    proj = load(project, profile)
    pairs = parse_cli_pairs(param or [])
    per_pipeline = {name: declared_params(proj, name, pairs) for name in proj.config.pipelines}
    with Progress("dag") as progress:
        outcomes = run_dag(
            proj, only=pipelines or None, params=per_pipeline, parallel=parallel, force=force, on_progress=progress,
            local_spark=local_spark, on_spark_server=lambda server: say(f"shared Spark Connect server: {server.url}",
                                                                        to=err),
        )
    raise typer.Exit(print_outcomes(outcomes))


def print_outcomes(outcomes: Sequence[Outcome]) -> int:
    """Print one row per pipeline; return the exit code: 1 if any failed or was not run, else 0."""
    table = Table("pipeline", "status", "run id", "duration", "message")
    for o in outcomes:
        table.add_row(
            plain(o.pipeline),
            plain(o.status, _COLORS.get(o.status, "white")),
            plain(o.run_id or ""),
            plain(f"{o.duration_s:.1f}s"),
            plain(o.message[:80]),
        )
    console.print(table)
    return 1 if any(o.status in ("failed", "upstream_failed") for o in outcomes) else 0
