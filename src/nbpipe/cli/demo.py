"""``nbpipe demo``: the worked example end to end (the steps are ``nbpipe.examples.demo.run_demo``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from nbpipe.cli._common import ProfileOpt, ProjectOpt, load, rel, say
from nbpipe.cli.dag import print_outcomes
from nbpipe.cli.progress import Progress

if TYPE_CHECKING:  # pragma: no cover
    from nbpipe.spark.server import ServerInfo


def demo(
    days: Annotated[int, typer.Option("--days", min=1, max=365, help="Days of 2013 to land (from Jan 1).")] = 7,
    land_only: Annotated[bool, typer.Option("--land-only", help="Only land the sample data.")] = False,
    local_spark: Annotated[
        bool,
        typer.Option("--local-spark", help="Let every notebook start its own local Spark instead of sharing one."),
    ] = False,
    parallel: Annotated[int, typer.Option("--parallel", min=1, help="Pipelines run at once (as in dag run).")] = 1,
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Land NYC flights 2013 as daily CSV drops and run every example pipeline in order."""
    from nbpipe.examples.demo import run_demo

    proj = load(project, profile)

    def on_landed(summary: dict[str, Any]) -> None:
        say(
            f"landed {len(summary['days'])} day(s) of 2013 flights into {rel(summary['landing'])}: "
            f"{len(summary['written'])} file(s) written, {len(summary['skipped'])} unchanged"
        )

    def on_spark_server(server: ServerInfo) -> None:
        say(f"shared Spark Connect server: {server.url} (logs: {rel(proj.runs_dir)}/.spark/)")

    if land_only:
        run_demo(proj, days=days, land_only=True, on_landed=on_landed)
        return
    with Progress("demo") as progress:
        result = run_demo(
            proj,
            days=days,
            local_spark=local_spark,
            parallel=parallel,
            on_progress=progress,
            on_landed=on_landed,
            on_spark_server=on_spark_server,
        )
    code = print_outcomes(result.outcomes)
    assert result.dashboard is not None
    say(f"run records: {rel(proj.runs_dir)}/<pipeline>/<run_id>/report.html · history: `nbpipe runs`")
    say(f"dashboard:   {rel(result.dashboard)}")
    if result.catalog is not None:
        say(f"catalog:     {rel(result.catalog)}")
    raise typer.Exit(code)
