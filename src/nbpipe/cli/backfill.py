"""``nbpipe backfill``: a pipeline once per day over a date range, resumable."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from nbpipe.cli._common import ProfileOpt, ProjectOpt, console, err, load

_COLORS = {"succeeded": "green", "failed": "red", "skipped": "dim"}


def backfill(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name from nbpipe.yaml.")],
    start: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option("--to", help="Last day (included), YYYY-MM-DD.")],
    day_param: Annotated[str, typer.Option("--param", help="The parameter that gets each day.")] = "run_date",
    parallel: Annotated[int, typer.Option("--parallel", min=1, help="Days run at the same time.")] = 1,
    param: Annotated[list[str] | None, typer.Option("-p", help="NAME=VALUE common to every day (repeatable).")] = None,
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Run a pipeline once per day; done days are skipped, so rerunning resumes."""
    from nbpipe.core.params import parse_cli_pairs
    from nbpipe.ops import backfill as service

    def on_day(day: Any) -> None:
        took = f" in {day.duration_s:.1f}s" if day.duration_s is not None else ""
        err.print(f"{pipeline} {day.day}: [{_color(day.status)}]{day.status}[/]{took}", soft_wrap=True)

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
    )
    table = Table("day", "status", "run id", "duration", "error", title=f"backfill {pipeline} ({result.backfill_id})")
    for d in result.days:
        table.add_row(
            d.day,
            f"[{_color(d.status)}]{d.status}[/]",
            d.run_id or "",
            f"{d.duration_s:.1f}s" if d.duration_s is not None else "",
            escape((d.error or "")[:70]),
        )
    console.print(table)
    for w in result.warnings:
        console.print(f"[yellow]warning:[/] {escape(str(w))}", soft_wrap=True)
    counts = ", ".join(f"{result.count(s)} {s}" for s in ("succeeded", "skipped", "failed"))
    console.print(f"{pipeline}: {len(result.days)} day(s): {counts}")
    if result.exit_code:
        retry = (
            f"nbpipe backfill {pipeline} --from {start} --to {end}"
            + (f" --param {day_param}" if day_param != "run_date" else "")
            + "".join(f" -p {k}={v}" for k, v in pairs.items())
        )
        err.print(f"rerun to retry the failed days (done days are skipped): [bold]{escape(retry)}[/]", soft_wrap=True)
    raise typer.Exit(result.exit_code)


def _color(status: str) -> str:
    return _COLORS.get(status, "white")
