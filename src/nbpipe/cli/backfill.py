"""``nbpipe backfill``: a pipeline once per day over a date range, resumable."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from nbpipe.cli._common import ProfileOpt, ProjectOpt, console, err, load, plain, say

if TYPE_CHECKING:  # pragma: no cover
    from nbpipe.core.config import Project

_COLORS = {"succeeded": "green", "failed": "red", "skipped": "dim"}


def backfill(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name from nbpipe.yaml.")],
    start: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option("--to", help="Last day (included), YYYY-MM-DD.")],
    day_param: Annotated[str, typer.Option("--param", help="The parameter that gets each day.")] = "run_date",
    parallel: Annotated[int, typer.Option("--parallel", min=1, help="Days run at the same time.")] = 1,
    param: Annotated[list[str] | None, typer.Option("-p", help="NAME=VALUE common to every day (repeatable).")] = None,
    local_spark: Annotated[
        bool, typer.Option("--local-spark", help="Let every day's notebook start its own Spark instead of sharing one.")
    ] = False,
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Run a pipeline once per day; done days are skipped, so rerunning resumes."""
    from nbpipe.core.params import parse_cli_pairs
    from nbpipe.ops import backfill as service

    def on_day(day: Any) -> None:
        took = f" in {day.duration_s:.1f}s" if day.duration_s is not None else ""
        say(f"{pipeline} {day.day}: ", (day.status, _color(day.status)), took, to=err)

    proj = load(project, profile)
    pairs = parse_cli_pairs(param or [])
    result = service.backfill(
        proj,
        pipeline,
        start=service.parse_day(start, "--from"),
        end=service.parse_day(end, "--to"),
        param=day_param,
        parallel=parallel,
        given=dict(pairs),
        from_cli=frozenset(pairs),
        on_day=on_day,
        local_spark=local_spark,
        on_spark_server=lambda server: say(f"shared Spark Connect server: {server.url}", to=err),
    )
    title = plain(f"backfill {pipeline} ({result.backfill_id})")
    table = Table("day", "status", "run id", "duration", "error", title=title)
    for d in result.days:
        table.add_row(
            plain(d.day),
            plain(d.status, _color(d.status)),
            plain(d.run_id or ""),
            plain(f"{d.duration_s:.1f}s" if d.duration_s is not None else ""),
            plain((d.error or "")[:70]),
        )
    console.print(table)
    for w in result.warnings:
        say(("warning:", "yellow"), " ", str(w))
    counts = ", ".join(f"{result.count(s)} {s}" for s in ("succeeded", "skipped", "failed"))
    say(f"{pipeline}: {len(result.days)} day(s): {counts}")
    if result.exit_code:
        words = ["nbpipe", "backfill", pipeline, "--from", start, "--to", end]
        words += ["--param", day_param] if day_param != "run_date" else []
        for k, v in pairs.items():
            words += ["-p", f"{k}={_retry_value(proj, pipeline, k, v)}"]
        say("rerun to retry the failed days (done days are skipped): ", (shlex.join(words), "bold"), to=err)
    raise typer.Exit(result.exit_code)


def _retry_value(proj: Project, pipeline: str, name: str, value: str) -> str:
    """``value`` as the retry command shows it: a secret parameter's value is never spelled out."""
    from nbpipe.core.params import is_secret_name

    spec = proj.config.pipelines[pipeline].params.get(name) if pipeline in proj.config.pipelines else None
    secret = (spec is not None and spec.secret) or is_secret_name(name, proj.config.secrets.param_patterns)
    return f"env:{name.upper()}" if secret and not value.startswith("env:") else value


def _color(status: str) -> str:
    return _COLORS.get(status, "white")
