"""``nbpipe gc``: delete data, quarantines, runs and staging past their retention (dry run by default)."""

from __future__ import annotations

from typing import Annotated

import typer

from nbpipe.cli._common import ProfileOpt, ProjectOpt, load, rel, say

_KINDS = {"partition": "partition", "quarantine": "quarantine partition", "run": "run", "staging": "staging"}


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"  # pragma: no cover


def gc(
    yes: Annotated[bool, typer.Option("--yes", help="Delete. Without it, only print what would be deleted.")] = False,
    dataset: Annotated[str | None, typer.Option("--dataset", help="Only this dataset and its quarantine.")] = None,
    pipeline: Annotated[str | None, typer.Option("--pipeline", help="Only this pipeline's runs and outputs.")] = None,
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Delete partitions, quarantines, runs and staging past their retention (a dry run without --yes)."""
    from nbpipe.core.events import utcnow
    from nbpipe.core.records import new_run_id
    from nbpipe.ops.retention import apply_plan, gc_lock, make_plan
    from nbpipe.ops.retention.plan import GC_PREFIX
    from nbpipe.run.store import RunStore
    from nbpipe.run.store_queries import StoreQueries

    proj = load(project, profile)
    now = utcnow()
    gc_id = GC_PREFIX + new_run_id(now)
    with RunStore(proj.store_url) as store, gc_lock(proj, gc_id, now):
        queries = StoreQueries(store)
        plan = make_plan(proj, queries, today=now.date(), dataset=dataset, pipeline=pipeline)
        verb = "delete" if yes else "would delete"
        for item in plan.items:
            say(f"{verb} {_KINDS[item.kind]} {item.label} ({_size(item.bytes)}): {item.reason}")
        for kept in plan.kept:
            say(("keep ", "dim"), kept)
        if not yes:
            say((f"dry run: {len(plan.items)} item(s), {_size(plan.bytes)} would be reclaimed", "bold"))
            if plan.items:
                say("run `nbpipe gc --yes` to delete them")
            return
        outcome = apply_plan(proj, queries, plan, gc_id=gc_id, now=now)
    for skipped in outcome.skipped:
        say(("skipped ", "yellow"), skipped)
    say((f"deleted {len(outcome.deleted)} item(s), reclaimed {_size(outcome.bytes)}", "bold"),
        f" (runs in {rel(proj.runs_dir)})")
