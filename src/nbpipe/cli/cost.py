"""``nbpipe cost``: what each pipeline, dataset or day cost over a period, and what moved."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from nbpipe.cli._common import JsonOpt, ProfileOpt, ProjectOpt, console, load, plain, say


def _usd(value: float) -> str:
    return f"${value:,.4f}"


def _change(value: float) -> str:
    return "" if round(value, 9) == 0 else f"{'+' if value > 0 else '−'}{_usd(abs(value))}"


def cost(
    since: Annotated[str, typer.Option("--since", help="The period: a duration such as 30d, 12h, 2w.")] = "30d",
    by: Annotated[str, typer.Option("--by", help="pipeline | dataset | day")] = "pipeline",
    as_json: JsonOpt = False,
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Compute and storage cost by pipeline, dataset or day, with the top movers vs the previous period."""
    from nbpipe.ops.cost import cost_breakdown, parse_since
    from nbpipe.run.store import RunStore

    parse_since(since)  # a bad --since is refused before the store is opened
    proj = load(project, profile)
    with RunStore(proj.store_url) as store:
        report = cost_breakdown(proj, store, since=since, by=by)
    if as_json:
        console.print_json(json.dumps(report.to_dict()))
        return
    say(("cost", "bold"), f" of the last {since} ({report.start[:16]} → {report.end[:16]} UTC), by {by}: ",
        (_usd(report.total_usd), "bold"), f" = compute {_usd(report.compute_usd)} + storage {_usd(report.storage_usd)}",
        f" (previous period {_usd(report.previous_total_usd)})")
    say(f"  prices: {_usd(report.core_hour_usd)} per core-hour, {_usd(report.gb_month_usd)} per GB-month")
    table = Table(by, "operations" if by == "dataset" else "runs", "core-s", "compute", "storage", "total",
                  "vs previous")
    for r in report.rows:
        table.add_row(plain(r.key), plain(str(r.runs)), plain(f"{r.core_s:,.1f}"), plain(_usd(r.compute_usd)),
                      plain(_usd(r.storage_usd)), plain(_usd(r.total_usd)), plain(_change(r.change_usd)))
    console.print(table)
    if report.lines:
        say("  compute by line: " + ", ".join(f"{k} {_usd(v)}" for k, v in sorted(report.lines.items())))
    movers = report.movers()
    if movers:
        say(("top movers:", "bold"), " " + ", ".join(f"{r.key} {_change(r.change_usd)}" for r in movers))
