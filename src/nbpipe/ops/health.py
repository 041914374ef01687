"""``nbpipe report``: the health dashboard from the run store's bounded queries and gc's dry run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from nbpipe.core.config import Project
from nbpipe.core.events import utcnow
from nbpipe.errors import DatasetError
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
    reclaim: dict[str, Any]
    try:
        plan = make_plan(project, queries, today=now.date(), count_runs_only=True)
    except DatasetError as exc:  # a retention gc cannot apply: the page says so, the rest is drawn
        reclaim = {"error": f"{exc.message} ({exc.hint})" if exc.hint else exc.message, "by_kind": {}}
    else:
        reclaim = {"by_kind": plan.summary()}
    return render(project, queries, out_dir or project.runs_dir, now=now, window=window, reclaim=reclaim)
