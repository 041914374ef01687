"""Alerts, deliveries and the bounded history queries that data alerts need, in the run store.

:class:`AlertStore` shares the :class:`~nbpipe.run.store.RunStore`'s engine and its error
translation. Every query here is bounded: one index probe per pipeline or dataset (the latest
success, the last N outputs), never a scan of all runs, so ``nbpipe monitor`` stays fast on
stores with hundreds of thousands of runs.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from nbpipe.run.store import RunStore
from nbpipe.run.store_schema import alerts, checks, datasets, deliveries, runs, state

OPEN, RESOLVED = "open", "resolved"


class AlertStore:
    """Read and write alert episodes and deliveries; read run history for the monitor's rules."""

    def __init__(self, store: RunStore) -> None:
        self.store = store

    # ---------------------------------------------------------------------------------- alerts
    def open_alert(self, subject: str, rule: str) -> dict[str, Any] | None:
        """The open episode of (``subject``, ``rule``), or None."""
        query = (sa.select(alerts).where(alerts.c.subject == subject, alerts.c.rule == rule,
                                         alerts.c.status == OPEN).order_by(alerts.c.id.desc()).limit(1))
        found = self.store._rows(f"read the open alert {subject}/{rule}", query)
        return found[0] if found else None

    def open_alerts(self, rules: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        """Every open alert (optionally of some rules only), oldest first."""
        query = sa.select(alerts).where(alerts.c.status == OPEN)
        if rules is not None:
            query = query.where(alerts.c.rule.in_(rules))
        return self.store._rows("list open alerts", query.order_by(alerts.c.id))

    def insert_alert(self, row: dict[str, Any]) -> int:
        with self.store._tx(f"open the alert {row.get('subject')}/{row.get('rule')}") as conn:
            return int(conn.execute(alerts.insert().values(**row).returning(alerts.c.id)).scalar_one())

    def update_alert(self, alert_id: int, **values: Any) -> None:
        with self.store._tx(f"update alert #{alert_id}") as conn:
            conn.execute(alerts.update().where(alerts.c.id == alert_id).values(**values))

    # ------------------------------------------------------------------------------ deliveries
    def add_delivery(self, row: dict[str, Any]) -> None:
        with self.store._tx("record a notification delivery") as conn:
            conn.execute(deliveries.insert().values(**row))

    def sent_since(self, channel: str, since_iso: str, event: str | None = None) -> int:
        """How many messages ``channel`` sent since ``since_iso`` (optionally of one event)."""
        query = sa.select(sa.func.count()).select_from(deliveries).where(
            deliveries.c.channel == channel, deliveries.c.ts >= since_iso, deliveries.c.status == "sent")
        if event is not None:
            query = query.where(deliveries.c.event == event)
        with self.store._tx("count deliveries", write=False) as conn:
            return int(conn.execute(query).scalar_one())

    def deliveries(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest deliveries, newest first."""
        return self.store._rows("list deliveries", sa.select(deliveries).order_by(deliveries.c.id.desc()).limit(limit))

    # ------------------------------------------------------------------------- monitor queries
    def latest_runs(self, pipeline: str, limit: int, status: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        """The newest ``limit`` runs of ``pipeline`` (newest first; ``running`` ones left out)."""
        cols = (runs.c.run_id, runs.c.status, runs.c.started_at, runs.c.ended_at, runs.c.skipped_reason,
                runs.c.quality)
        query = sa.select(*cols).where(runs.c.pipeline == pipeline, runs.c.status != "running")
        if status is not None:
            query = query.where(runs.c.status.in_(status))
        query = query.order_by(runs.c.started_at.desc(), runs.c.run_id.desc()).limit(limit)
        return self.store._rows(f"read the latest runs of {pipeline!r}", query)

    def first_run_at(self, pipeline: str) -> str | None:
        query = sa.select(runs.c.started_at).where(runs.c.pipeline == pipeline).order_by(runs.c.started_at).limit(1)
        found = self.store._rows(f"read the first run of {pipeline!r}", query)
        return found[0]["started_at"] if found else None

    def incremental_pipelines(self) -> set[str]:
        """Pipelines with committed incremental state."""
        query = sa.select(state.c.pipeline).distinct()
        return {r["pipeline"] for r in self.store._rows("read the incremental pipelines", query)}

    def output_history(self, dataset: str, limit: int, *, exclude_run: str | None = None,
                       rejected: bool = False) -> list[dict[str, Any]]:
        """Rows (or rejected rows) written to ``dataset`` by its newest ``limit`` successful runs, newest first."""
        value = datasets.c.rejected_rows if rejected else datasets.c.rows
        query = (sa.select(runs.c.run_id, runs.c.started_at, sa.func.sum(value).label("rows"))
                 .select_from(datasets.join(runs, runs.c.run_id == datasets.c.run_id))
                 .where(datasets.c.dataset == dataset, datasets.c.direction == "out", runs.c.status == "succeeded")
                 .group_by(runs.c.run_id, runs.c.started_at)
                 .order_by(runs.c.started_at.desc()).limit(limit))
        if exclude_run is not None:
            query = query.where(runs.c.run_id != exclude_run)
        return self.store._rows(f"read the output history of {dataset!r}", query)

    def input_rows(self, run_id: str) -> int | None:
        """Rows the run read from all its inputs (None when it read none)."""
        query = sa.select(sa.func.sum(datasets.c.rows), sa.func.count()).where(
            datasets.c.run_id == run_id, datasets.c.direction == "in")
        with self.store._tx(f"read the inputs of run {run_id!r}", write=False) as conn:
            total, n = conn.execute(query).one()
        return None if not n else int(str(total or 0))

    def check_results(self, run_id: str) -> list[dict[str, Any]]:
        query = sa.select(checks.c.suite, checks.c.dataset, checks.c.expectation_type, checks.c.column_name,
                          checks.c.success).where(checks.c.run_id == run_id)
        return self.store._rows(f"read the checks of run {run_id!r}", query)
