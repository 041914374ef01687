"""``nbpipe airflow export``: write Airflow 3 DAG files for the scheduled pipelines."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nbpipe.cli._common import ProfileOpt, ProjectOpt, load, rel, say

airflow_app = typer.Typer(help="Run the pipelines under Airflow 3.", no_args_is_help=True)


@airflow_app.command("export")
def export(
    pipelines: Annotated[
        list[str] | None, typer.Argument(help="Scheduled pipelines to export; all scheduled ones if none.")
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Directory for the DAG files (Airflow's dags folder).")] = Path(
        "dags"
    ),
    nbpipe_bin: Annotated[
        str | None,
        typer.Option("--nbpipe-bin", help="The nbpipe command Airflow's workers run (default: this one)."),
    ] = None,
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Write one DAG file per schedule: a task per pipeline, dependencies and assets from nbpipe.yaml."""
    from nbpipe.ops.airflow import export as run_export

    proj = load(project, profile)
    done = run_export(proj, out, pipelines or [], nbpipe_bin=nbpipe_bin, profile=profile)
    for path, dag_id, tasks in done.files:
        say(("✓", "green"), f" {rel(path)}: DAG {dag_id} ({len(tasks)} task(s): {', '.join(tasks)})")
    for path in done.removed:
        say(("–", "dim"), f" removed {rel(path)} (no pipeline has its schedule any more)")
    if done.unscheduled:
        say(("–", "dim"), f" not exported (no schedule): {', '.join(done.unscheduled)}")
    if not done.files:
        say("no pipeline has a schedule: add schedule: \"@daily\" (or cron) to a pipeline in nbpipe.yaml")
