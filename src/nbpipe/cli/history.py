"""Reading the run history: ``nbpipe runs``, ``nbpipe show`` and the ``nbpipe report`` dashboard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from nbpipe.cli._common import JsonOpt, ProfileOpt, ProjectOpt, console, load, plain, rel, say

_COLORS = {"succeeded": "green", "failed": "red", "cancelled": "yellow", "running": "cyan", "skipped": "dim"}


def runs(
    pipeline: Annotated[str | None, typer.Argument(help="Only runs of this pipeline.")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="succeeded | failed | cancelled | skipped | running")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 20,
    as_json: JsonOpt = False,
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """List recent runs from the run-history store."""
    from nbpipe.run.store import RunStore

    proj = load(project, profile)
    with RunStore(proj.store_url) as store:
        rows = store.list_runs(pipeline, status=status, limit=limit)
    if as_json:
        console.print_json(json.dumps(rows, default=str))
        return
    table = Table("run id", "pipeline", "status", "started", "duration", "quality", "error")
    for r in rows:
        dur = r.get("duration_s")
        table.add_row(
            plain(r["run_id"]),
            plain(r["pipeline"]),
            plain(r["status"], _COLORS.get(r["status"], "white")),
            plain(str(r.get("started_at") or "")[:19]),
            plain(f"{dur:.1f}s" if dur is not None else ""),
            plain(r.get("quality") or ""),
            plain((r.get("error_message") or "")[:60]),
        )
    console.print(table)


def show(
    run_id: Annotated[str, typer.Argument(help="Run id (a unique prefix is enough).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole run.json.")] = False,
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Show one run: status, parameters, cells, datasets, checks, metrics."""
    from nbpipe.run.store import RunStore

    proj = load(project, profile)
    with RunStore(proj.store_url) as store:
        record = store.get_run(run_id)
    if as_json:
        console.print_json(json.dumps(record, default=str))
        return
    color = {"succeeded": "green", "failed": "red"}.get(record.get("status", ""), "white")
    say((str(record.get("pipeline")), "bold"), f" run {record.get('run_id')}: ", (str(record.get("status")), color),
        f" in {record.get('duration_s')}s (exit {record.get('exit_code')})")
    say("  params: ", json.dumps(record.get("params", {})))
    error = record.get("error")
    if error:
        say("  ", ("error:", "red"), " ", str(error.get("message")))
        if error.get("hint"):
            say("  ", ("hint:", "yellow"), " ", str(error["hint"]))
    for a in record.get("attempts", []):
        say(f"  attempt {a['attempt']}: {a['status']} ({a.get('duration_s')}s) {a.get('error') or ''}".rstrip())
    for side in ("inputs", "outputs"):
        for d in record.get("datasets", {}).get(side, []):
            say(f"  {side[:-1]}: {d.get('dataset')} rows={d.get('rows')} rejected={d.get('rejected_rows')}")
    for c in record.get("checks", []):
        say(f"  check {c.get('suite')}: {'passed' if c.get('success') else 'FAILED'}")
    for name, value in record.get("metrics", {}).items():
        say(f"  metric {name} = {value}")
    run_dir = Path(proj.runs_dir) / str(record.get("pipeline")) / str(record.get("run_id"))
    say(f"  record: {rel(run_dir)}/report.html")


def _window(value: str) -> str:
    from nbpipe.core.schedule import parse_duration

    try:
        parse_duration(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{exc} (e.g. --window 30d, 12h, 2w)") from None
    return value


def report(
    out: Annotated[Path | None, typer.Option("--out", help="Output directory (default: the runs directory).")] = None,
    window: Annotated[str, typer.Option("--window", callback=_window,
                                        help="Time window of every figure: 30d, 12h, 2w.")] = "30d",
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Write the static pipeline-health dashboard (index.html and its pages) from the run store."""
    from nbpipe.ops.health import write_dashboard
    from nbpipe.run.store import RunStore

    proj = load(project, profile)
    with RunStore(proj.store_url) as store:
        page = write_dashboard(proj, store, out, window=window)
    say(f"dashboard: {rel(page)}")
