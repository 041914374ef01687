"""``nbpipe report``: the health dashboard from the run store's bounded queries and gc's dry run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from nbpipe.core.config import Project
from nbpipe.core.events import utcnow
from nbpipe.ops.retention import make_plan
from nbpipe.report.dashboard import render
from nbpipe.run.store import RunStore
from nbpipe.run.store_queries import StoreQueries

DEFAULT_WINDOW = "30d"


def write_dashboard(project: Project, store: RunStore, out_dir: Path | None = None, *,
                    now: dt.datetime | None = None, window: str = DEFAULT_WINDOW) -> Path:
    """Write the dashboard (overview, pipeline, cost and storage pages); return the overview's path."""
    now = now or utcnow()
    queries = StoreQueries(store)
    plan = make_plan(project, queries, today=now.date(), count_runs_only=True)
    by_owner: dict[str, int] = {}
    for item in plan.items:
        by_owner[item.owner] = by_owner.get(item.owner, 0) + item.bytes
    reclaim = {"by_kind": plan.summary(), "by_owner": by_owner}
    return render(project, queries, out_dir or project.runs_dir, now=now, window=window, reclaim=reclaim)
