"""Bounded read queries over the run store for retention (``nbpipe gc``) and the health dashboard.

Every query here is limited by a time window (``started_at >= since``, served by the
``(pipeline, started_at)`` index), a per-pipeline ``LIMIT`` or an explicit id list, so the time and
memory of ``nbpipe report`` follow the window, not the whole history. Rows come back as plain
dicts; the report layer consumes them through :class:`nbpipe.report.dashboard.data.HealthSource`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from nbpipe.run.store import RunStore
from nbpipe.run.store_schema import alerts, checks, cost_lines, datasets, runs, state

_IN_CHUNK = 500
_raw_start = sa.type_coerce(runs.c.started_at, sa.Text).label("started_at")  # skip per-row timestamp processing
_RUN_FACTS = (runs.c.run_id, runs.c.pipeline, runs.c.status, runs.c.started_at, runs.c.ended_at,
              runs.c.duration_s, runs.c.quality, runs.c.error_message, runs.c.skipped_reason)


class StoreQueries:
    """Read-only, bounded queries over one :class:`RunStore`."""

    def __init__(self, store: RunStore) -> None:
        self.store = store

    def _rows(self, action: str, query: sa.Select[Any]) -> list[dict[str, Any]]:
        return self.store._rows(action, query)  # one translation of driver errors into StoreError

    def _plain(self, action: str, query: sa.Select[Any]) -> list[dict[str, Any]]:
        """Rows as plain dicts without per-row result processing (the window's many rows)."""
        with self.store._tx(action, write=False) as conn:
            result = conn.execute(query)
            keys = list(result.keys())
            return [dict(zip(keys, row, strict=True)) for row in result.tuples()]

    # ------------------------------------------------------------------------------ dashboard
    def pipelines(self) -> list[str]:
        """Every pipeline name with at least one run."""
        query = sa.select(runs.c.pipeline).distinct().order_by(runs.c.pipeline)
        return [r["pipeline"] for r in self._rows("list pipelines", query)]

    def newest_runs(self, pipeline: str, limit: int, *, status: str | None = None,
                    since: str | None = None) -> list[dict[str, Any]]:
        """The newest ``limit`` runs of ``pipeline`` (newest first), optionally of one status / since."""
        query = sa.select(*_RUN_FACTS).where(runs.c.pipeline == pipeline)
        if status is not None:
            query = query.where(runs.c.status == status)
        if since is not None:
            query = query.where(runs.c.started_at >= since)
        query = query.order_by(runs.c.started_at.desc(), runs.c.run_id.desc()).limit(limit)
        return self._rows(f"read the newest runs of {pipeline!r}", query)

    def window_runs(self, pipeline: str, since: str) -> list[dict[str, Any]]:
        """Status, start, duration and quality of every run of ``pipeline`` started since ``since``, oldest first.

        ``started_at`` comes as the database holds it (SQLite: naive UTC text; PostgreSQL: an aware
        datetime): read it with :func:`nbpipe.report.dashboard.data.moment`.
        """
        query = (sa.select(runs.c.run_id, runs.c.status, _raw_start, runs.c.duration_s, runs.c.quality)
                 .where(runs.c.pipeline == pipeline, runs.c.started_at >= since)
                 .order_by(runs.c.started_at, runs.c.run_id))
        return self._plain(f"read the runs of {pipeline!r} in the window", query)

    def window_cost(self, pipeline: str, since: str) -> float | None:
        """The summed ``cost_usd`` of ``pipeline``'s runs since ``since``; None when none was measured."""
        query = (sa.select(sa.func.sum(runs.c.cost_usd).label("usd"), sa.func.count(runs.c.cost_usd).label("n"))
                 .where(runs.c.pipeline == pipeline, runs.c.started_at >= since))
        row = self._plain(f"sum the cost of {pipeline!r} in the window", query)[0]  # type: ignore[arg-type]
        return float(row["usd"]) if row["n"] else None

    def window_dataset_costs(self, since: str) -> dict[str, float]:
        """Compute cost per dataset since ``since``: the priced operations that read or wrote it."""
        query = (sa.select(cost_lines.c.dataset, sa.func.sum(cost_lines.c.usd).label("usd"))
                 .where(cost_lines.c.started_at >= since, cost_lines.c.dataset.is_not(None))
                 .group_by(cost_lines.c.dataset))
        return {r["dataset"]: float(r["usd"] or 0.0) for r in self._plain("sum the cost per dataset", query)}

    def open_alerts(self, pipeline: str) -> list[dict[str, Any]]:
        """The alerts open now for ``pipeline`` (its own and its datasets'), oldest first."""
        query = (sa.select(alerts.c.subject, alerts.c.rule, alerts.c.severity, alerts.c.message,
                           alerts.c.opened_at, alerts.c.count)
                 .where(alerts.c.status == "open",
                        sa.or_(alerts.c.pipeline == pipeline, alerts.c.subject == pipeline))
                 .order_by(alerts.c.opened_at, alerts.c.id))
        return self._rows(f"read the open alerts of {pipeline!r}", query)

    def window_outputs(self, pipeline: str, since: str) -> list[dict[str, Any]]:
        """Datasets written by the succeeded runs of ``pipeline`` since ``since``, oldest run first."""
        query = (sa.select(runs.c.run_id, _raw_start, datasets.c.dataset, datasets.c.rows, datasets.c.bytes)
                 .join(datasets, datasets.c.run_id == runs.c.run_id)
                 .where(runs.c.pipeline == pipeline, runs.c.started_at >= since, runs.c.status == "succeeded",
                        datasets.c.direction == "out")
                 .order_by(runs.c.started_at, runs.c.run_id, datasets.c.dataset))
        return self._plain(f"read the outputs of {pipeline!r} in the window", query)

    def window_checks(self, pipeline: str, since: str) -> list[dict[str, Any]]:
        """Per check (suite, dataset, expectation, column): runs evaluated and passed since ``since``."""
        key = (checks.c.suite, checks.c.dataset, checks.c.expectation_type, checks.c.column_name)
        passed = sa.func.sum(sa.case((checks.c.success.is_(True), 1), else_=0))
        query = (sa.select(*key, sa.func.count().label("evaluated"), passed.label("passed"),
                           sa.func.max(runs.c.started_at).label("last_at"))
                 .join(runs, runs.c.run_id == checks.c.run_id)
                 .where(runs.c.pipeline == pipeline, runs.c.started_at >= since)
                 .group_by(*key).order_by(*key))
        return self._rows(f"read the check history of {pipeline!r}", query)

    # -------------------------------------------------------------------------------- retention
    def runs_started_before(self, cutoff_iso: str, pipeline: str | None = None) -> list[dict[str, Any]]:
        """Id, pipeline, status, start and run directory of runs started before ``cutoff_iso``, oldest first."""
        query = sa.select(runs.c.run_id, runs.c.pipeline, runs.c.status, runs.c.started_at, runs.c.run_dir)
        query = query.where(runs.c.started_at < cutoff_iso)
        if pipeline is not None:
            query = query.where(runs.c.pipeline == pipeline)
        return self._rows("list runs past retention", query.order_by(runs.c.started_at, runs.c.run_id))

    def count_runs_before(self, cutoff_iso: str, exclude: set[str], pipeline: str | None = None) -> int:
        """How many finished runs started before ``cutoff_iso``, other than ``exclude``.

        Counted from the ``started_at`` index alone (no row is read), less the few running or
        excluded runs among them, so the count costs little however long the expired history is.
        """
        old = runs.c.started_at < cutoff_iso
        scope = [old] if pipeline is None else [old, runs.c.pipeline == pipeline]
        count = sa.func.count().label("n")
        total = self._rows("count runs past retention", sa.select(count).where(*scope))[0]["n"]
        running = sa.select(count).where(*scope, runs.c.status == "running")
        total -= self._rows("count running runs", running)[0]["n"]
        ids = sorted(exclude)
        for start in range(0, len(ids), _IN_CHUNK):
            kept = sa.select(count).where(*scope, runs.c.status != "running",
                                          runs.c.run_id.in_(ids[start : start + _IN_CHUNK]))
            total -= self._rows("count kept runs", kept)[0]["n"]
        return int(total)

    def newest_ids(self, pipeline: str, status: str, limit: int) -> set[str]:
        """Ids of the newest ``limit`` runs of ``pipeline`` with ``status``."""
        if limit < 1:
            return set()
        return {r["run_id"] for r in self.newest_runs(pipeline, limit, status=status)}

    def state_run_ids(self) -> set[str]:
        """Runs that committed a current incremental position (their records explain the state)."""
        return {r["run_id"] for r in self._rows("read the state", sa.select(state.c.run_id).distinct())}

    def run_starts(self, run_ids: list[str]) -> dict[str, str]:
        """``{run_id: started_at}`` of the given runs that are in the store."""
        found: dict[str, str] = {}
        for start in range(0, len(run_ids), _IN_CHUNK):
            chunk = run_ids[start : start + _IN_CHUNK]
            query = sa.select(runs.c.run_id, runs.c.started_at).where(runs.c.run_id.in_(chunk))
            found.update({r["run_id"]: r["started_at"] for r in self._rows("read run dates", query)
                          if r["started_at"]})
        return found
