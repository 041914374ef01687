"""Alerts, deliveries and the bounded history queries that data alerts need, in the run store.

:class:`AlertStore` shares the :class:`~nbpipe.run.store.RunStore`'s engine and its error
translation. Every query here is bounded: one index probe per pipeline or dataset (the latest
success, the last N outputs), never a scan of all runs, so ``nbpipe monitor`` stays fast on
stores with hundreds of thousands of runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from nbpipe.run.store import RunStore
from nbpipe.run.store_schema import alerts, checks, datasets, deliveries, runs, state

OPEN, RESOLVED = "open", "resolved"


class AlertStore:
    """Read and write alert episodes and deliveries; read run history for the monitor's rules."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self._conn: sa.Connection | None = None

    # ---------------------------------------------------------------------------------- alerts
    def open_alert(self, subject: str, rule: str) -> dict[str, Any] | None:
        """The open episode of (``subject``, ``rule``), or None."""
        query = (sa.select(alerts).where(alerts.c.subject == subject, alerts.c.rule == rule,
                                         alerts.c.status == OPEN).order_by(alerts.c.id.desc()).limit(1))
        found = self._read(f"read the open alert {subject}/{rule}", query)
        return found[0] if found else None

    def open_alerts(self, rules: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        """Every open alert (optionally of some rules only), oldest first."""
        query = sa.select(alerts).where(alerts.c.status == OPEN)
        if rules is not None:
            query = query.where(alerts.c.rule.in_(rules))
        return self._read("list open alerts", query.order_by(alerts.c.id))

    def insert_alert(self, row: dict[str, Any]) -> int:
        insert = alerts.insert().values(**row).returning(alerts.c.id)
        [(alert_id,)] = self._write(f"open the alert {row.get('subject')}/{row.get('rule')}", insert)
        return int(alert_id)

    def update_alert(self, alert_id: int, **values: Any) -> None:
        self._write(f"update alert #{alert_id}", alerts.update().where(alerts.c.id == alert_id).values(**values))

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Make the alert reads and writes inside one write transaction (all or nothing, one commit)."""
        with self.store._tx("update alerts") as conn:
            self._conn = conn
            try:
                yield
            finally:
                self._conn = None

    def _write(self, action: str, statement: Any) -> list[Any]:
        """Execute ``statement`` (in the batch, if one is open); the rows it returns."""
        if self._conn is not None:
            try:
                result = self._conn.execute(statement)
                return list(result.all()) if result.returns_rows else []
            except sa_exc.SQLAlchemyError as exc:
                raise self.store._error(action, exc) from exc
        with self.store._tx(action) as conn:
            result = conn.execute(statement)
            return list(result.all()) if result.returns_rows else []

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
    @contextmanager
    def reading(self) -> Iterator[None]:
        """Run the history reads inside on one read transaction (one snapshot, no per-query setup)."""
        with self.store._tx("read the run history", write=False) as conn:
            self._conn = conn
            try:
                yield
            finally:
                self._conn = None

    def _read(self, action: str, query: sa.Select[Any]) -> list[dict[str, Any]]:
        if self._conn is None:
            return self.store._rows(action, query)
        try:
            return [dict(r) for r in self._conn.execute(query).mappings()]
        except sa_exc.SQLAlchemyError as exc:
            raise self.store._error(action, exc) from exc

    def latest_runs(self, pipeline: str, limit: int, status: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        """The newest ``limit`` runs of ``pipeline`` (newest first; ``running`` ones left out)."""
        cols = (runs.c.run_id, runs.c.status, runs.c.started_at, runs.c.ended_at, runs.c.skipped_reason,
                runs.c.quality)
        query = sa.select(*cols).where(runs.c.pipeline == pipeline, _status().not_in(["running"]))
        if status is not None:
            query = query.where(_status().in_(status))
        query = query.order_by(runs.c.started_at.desc(), runs.c.run_id.desc()).limit(limit)
        return self._read(f"read the latest runs of {pipeline!r}", query)

    def latest_runs_of(self, pipelines: list[str], limit: int,
                       status: tuple[str, ...] | None = None) -> dict[str, list[dict[str, Any]]]:
        """:meth:`latest_runs` of many pipelines in one statement (each part an index probe)."""
        out: dict[str, list[dict[str, Any]]] = {p: [] for p in pipelines}
        cols = (runs.c.run_id, runs.c.pipeline, runs.c.status, runs.c.started_at, runs.c.ended_at,
                runs.c.skipped_reason, runs.c.quality)
        for start in range(0, len(pipelines), 200):
            parts = []
            for pipeline in pipelines[start : start + 200]:
                part = sa.select(*cols).where(runs.c.pipeline == pipeline, _status().not_in(["running"]))
                if status is not None:
                    part = part.where(_status().in_(status))
                part = part.order_by(runs.c.started_at.desc(), runs.c.run_id.desc()).limit(limit)
                parts.append(sa.select(part.subquery()))
            query: Any = sa.union_all(*parts) if len(parts) > 1 else parts[0]
            for row in self._read("read the latest runs", query):
                out[row["pipeline"]].append(row)
        for rows in out.values():
            rows.sort(key=lambda r: (r["started_at"], r["run_id"]), reverse=True)
        return out

    def outputs_of(self, run_ids: list[str]) -> dict[tuple[str, str], dict[str, Any]]:
        """``{(run_id, dataset): {rows, rejected_rows}}`` of what the runs wrote."""
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for start in range(0, len(run_ids), 5000):
            query = (sa.select(datasets.c.run_id, datasets.c.dataset, sa.func.sum(datasets.c.rows).label("rows"),
                               sa.func.sum(datasets.c.rejected_rows).label("rejected_rows"))
                     .where(datasets.c.direction == "out", datasets.c.run_id.in_(run_ids[start : start + 5000]))
                     .group_by(datasets.c.run_id, datasets.c.dataset))
            for row in self._read("read the outputs of runs", query):
                out[(row["run_id"], row["dataset"])] = row
        return out

    def first_run_at(self, pipeline: str) -> str | None:
        query = sa.select(runs.c.started_at).where(runs.c.pipeline == pipeline).order_by(runs.c.started_at).limit(1)
        found = self._read(f"read the first run of {pipeline!r}", query)
        return found[0]["started_at"] if found else None

    def incremental_pipelines(self) -> set[str]:
        """Pipelines with committed incremental state."""
        query = sa.select(state.c.pipeline).distinct()
        return {r["pipeline"] for r in self._read("read the incremental pipelines", query)}

    def output_history(self, dataset: str, limit: int, *, writers: list[str] | None = None,
                       exclude_run: str | None = None) -> list[dict[str, Any]]:
        """``rows`` and ``rejected_rows`` written to ``dataset`` by its newest ``limit`` successful runs, newest first.

        With ``writers`` (the pipelines that write it) the runs are found through the runs index of
        each writer, ``limit`` at a time; without, through the datasets index.
        """
        action = f"read the output history of {dataset!r}"
        sums = (sa.func.sum(datasets.c.rows).label("rows"),
                sa.func.sum(datasets.c.rejected_rows).label("rejected_rows"))
        outputs = sa.and_(datasets.c.dataset == dataset, datasets.c.direction == "out")
        if not writers:
            query = (sa.select(runs.c.run_id, runs.c.started_at, *sums)
                     .select_from(datasets.join(runs, runs.c.run_id == datasets.c.run_id))
                     .where(outputs, runs.c.status == "succeeded", runs.c.run_id != (exclude_run or ""))
                     .group_by(runs.c.run_id, runs.c.started_at).order_by(runs.c.started_at.desc()).limit(limit))
            return self._read(action, query)
        candidates: list[dict[str, Any]] = []
        for pipeline in writers:
            query = (sa.select(runs.c.run_id, runs.c.started_at)
                     .where(runs.c.pipeline == pipeline, _status() == "succeeded",
                            runs.c.run_id != (exclude_run or ""))
                     .order_by(runs.c.started_at.desc()).limit(limit))
            candidates += self._read(action, query)
        candidates = sorted(candidates, key=lambda r: r["started_at"], reverse=True)[:limit]
        if not candidates:
            return []
        query = (sa.select(datasets.c.run_id, *sums)
                 .where(outputs, datasets.c.run_id.in_([c["run_id"] for c in candidates]))
                 .group_by(datasets.c.run_id))
        found = {r["run_id"]: r for r in self._read(action, query)}
        return [{**c, "rows": found[c["run_id"]]["rows"], "rejected_rows": found[c["run_id"]]["rejected_rows"]}
                for c in candidates if c["run_id"] in found]

    def input_rows(self, run_id: str) -> int | None:
        """Rows the run read from all its inputs (None when it read none)."""
        query: sa.Select[Any] = sa.select(sa.func.sum(datasets.c.rows).label("rows"), datasets.c.run_id)
        query = query.where(datasets.c.run_id == run_id, datasets.c.direction == "in").group_by(datasets.c.run_id)
        found = self._read(f"read the inputs of run {run_id!r}", query)
        return int(str(found[0]["rows"] or 0)) if found else None

    def check_results(self, run_ids: list[str]) -> list[dict[str, Any]]:
        """The check results of the runs ``run_ids`` (with their ``run_id``)."""
        out: list[dict[str, Any]] = []
        for start in range(0, len(run_ids), 5000):
            query = sa.select(checks.c.run_id, checks.c.suite, checks.c.dataset, checks.c.expectation_type,
                              checks.c.column_name, checks.c.success).where(
                                  checks.c.run_id.in_(run_ids[start : start + 5000]))
            out += self._read("read the checks of runs", query)
        return out


def _status() -> Any:
    """``runs.status`` wrapped so that no planner picks the status index: a filter on it would then
    read every run of that status. The (pipeline, started_at) index reads a pipeline's newest runs."""
    return sa.func.coalesce(runs.c.status, "")
