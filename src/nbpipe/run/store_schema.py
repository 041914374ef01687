"""The run store's tables (SQLAlchemy Core) and how run records map to their rows.

Tables: runs and their children (attempts, events, datasets, checks, metrics, cost lines),
incremental state, the publish journal, alerts and deliveries. Schema changes to existing tables
go through :mod:`nbpipe.run.store_migrations`.

Timestamps are stored as ISO-8601 UTC strings whatever the backend (:class:`UtcDateTime`).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

Row = dict[str, Any]


def _parse_ts(value: str | dt.datetime) -> dt.datetime:
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


class UtcDateTime(sa.types.TypeDecorator[str]):
    """A timestamp column taking and returning ISO-8601 UTC strings (timestamptz on PostgreSQL)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        moment = _parse_ts(value)
        return moment.replace(tzinfo=None) if dialect.name == "sqlite" else moment

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> str | None:
        return None if value is None else _parse_ts(value).isoformat()


metadata = sa.MetaData()
_ID, _NAME, _SHORT, _TS, _TEXT = sa.String(64), sa.String(200), sa.String(16), UtcDateTime, sa.Text
Col = sa.Column


def _child(name: str, *items: Any) -> sa.Table:
    """A table of per-run rows, deleted with its run."""
    fk = sa.ForeignKey("runs.run_id", ondelete="CASCADE")
    return sa.Table(name, metadata, Col("run_id", _ID, fk, nullable=False, index=True), *items)


# Columns of `runs` added by schema v2: what a run cost and used (from run.json `cost`, `resources`).
RUN_RESOURCE_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("cost_usd", sa.Float()), ("allocated_core_s", sa.Float()), ("busy_core_s", sa.Float()),
    ("kernel_cpu_s", sa.Float()), ("kernel_peak_rss_bytes", sa.BigInteger()),
)
meta = sa.Table("meta", metadata, Col("key", sa.String(64), primary_key=True), Col("value", _TEXT))
runs = sa.Table(
    "runs", metadata,
    Col("run_id", _ID, primary_key=True), Col("pipeline", _NAME, nullable=False),
    Col("status", _SHORT, nullable=False), Col("mode", _SHORT), Col("profile", _NAME),
    Col("started_at", _TS), Col("ended_at", _TS), Col("duration_s", sa.Float), Col("exit_code", sa.Integer),
    Col("params_json", _TEXT), Col("error_type", _NAME), Col("error_message", _TEXT),
    Col("fingerprint", sa.String(128)), Col("run_dir", _TEXT), Col("quality", _SHORT),
    Col("record_json", _TEXT), Col("skipped_reason", _TEXT),
    *(Col(name, kind) for name, kind in RUN_RESOURCE_COLUMNS),  # schema v2 (nbpipe.run.store_migrations)
    sa.Index("ix_runs_pipeline_started", "pipeline", "started_at"),
    sa.Index("ix_runs_status", "status"),
    sa.Index("ix_runs_started", "started_at"),
)
attempts = _child(
    "attempts",
    Col("attempt", sa.Integer, nullable=False), Col("status", _SHORT), Col("started_at", _TS),
    Col("ended_at", _TS), Col("duration_s", sa.Float), Col("error_message", _TEXT),
)
events = _child(
    "events",
    Col("seq", sa.Integer, nullable=False), Col("ts", _TS), Col("kind", sa.String(64), nullable=False),
    Col("source", sa.String(32)), Col("attempt", sa.Integer), Col("payload_json", _TEXT),
)
datasets = _child(
    "datasets",
    Col("dataset", _NAME, nullable=False), Col("direction", sa.String(3), nullable=False),
    Col("rows", sa.BigInteger), Col("bytes", sa.BigInteger), Col("rejected_rows", sa.BigInteger),
    Col("schema_version", sa.String(64)), Col("path", _TEXT),
    sa.CheckConstraint("direction IN ('in', 'out')", name="ck_datasets_direction"),
    sa.Index("ix_datasets_dataset", "dataset"),
)
checks = _child(
    "checks",
    Col("suite", _NAME), Col("dataset", _NAME), Col("expectation_type", _NAME), Col("column_name", _NAME),
    Col("success", sa.Boolean), Col("unexpected_count", sa.BigInteger), Col("unexpected_percent", sa.Float),
    Col("observed_value_json", _TEXT),
)
metrics = _child(
    "metrics", Col("name", _NAME, nullable=False), Col("value", sa.Float), sa.Index("ix_metrics_name", "name")
)
cost_lines = _child(  # schema v2: one row per priced line of a run's `cost` (nbpipe.core.costmodel)
    "cost_lines",
    Col("pipeline", _NAME, nullable=False), Col("day", sa.String(10), nullable=False), Col("started_at", _TS),
    Col("line", sa.String(32), nullable=False), Col("op", sa.String(16)), Col("dataset", _NAME),
    Col("core_s", sa.Float), Col("usd", sa.Float, nullable=False), Col("detail_json", _TEXT),
    # covering: `nbpipe cost` sums a window from the index alone, without a lookup per row
    sa.Index("ix_cost_lines_window", "started_at", "pipeline", "line", "dataset", "day", "usd", "core_s"),
)


def _state_columns() -> list[sa.Column[Any]]:
    return [Col("position_json", _TEXT, nullable=False), Col("run_id", _ID, nullable=False),
            Col("committed_at", _TS, nullable=False)]


state = sa.Table(
    "state", metadata,
    Col("pipeline", _NAME, primary_key=True), Col("dataset", _NAME, primary_key=True), *_state_columns(),
)
state_history = sa.Table(  # append-only
    "state_history", metadata,
    Col("id", sa.Integer, sa.Identity(), primary_key=True),
    Col("pipeline", _NAME, nullable=False), Col("dataset", _NAME, nullable=False), *_state_columns(),
    sa.Index("ix_state_history_pipeline", "pipeline", "dataset"),
)
publish_journal = sa.Table(
    "publish_journal", metadata,
    Col("id", sa.Integer, sa.Identity(), primary_key=True), Col("run_id", _ID, nullable=False),
    Col("pipeline", _NAME, nullable=False), Col("payload_json", _TEXT, nullable=False),
    Col("status", _SHORT, nullable=False), Col("created_at", _TS, nullable=False), Col("finished_at", _TS),
    sa.CheckConstraint("status IN ('pending', 'done')", name="ck_publish_journal_status"),
    sa.Index("ix_publish_journal_status", "status", "pipeline"),
)
alerts = sa.Table(  # one row per episode of (subject, rule): open → resolved (nbpipe.ops.alerts)
    "alerts", metadata,
    Col("id", sa.Integer, sa.Identity(), primary_key=True),
    Col("subject", _NAME, nullable=False), Col("rule", _NAME, nullable=False), Col("event", sa.String(32)),
    Col("pipeline", _NAME), Col("dataset", _NAME), Col("status", _SHORT, nullable=False),
    Col("severity", _SHORT), Col("message", _TEXT), Col("run_id", _ID), Col("count", sa.Integer, nullable=False),
    Col("suppressed", sa.Integer, nullable=False), Col("reminders", sa.Integer, nullable=False),
    Col("opened_at", _TS, nullable=False), Col("last_seen_at", _TS, nullable=False),
    Col("notified_at", _TS), Col("resolved_at", _TS),
    sa.CheckConstraint("status IN ('open', 'resolved')", name="ck_alerts_status"),
    sa.Index("ix_alerts_key", "subject", "rule", "status"),
    sa.Index("ix_alerts_status", "status"),
)
deliveries = sa.Table(  # every message sent, refused by the rate limit, or that could not be delivered
    "deliveries", metadata,
    Col("id", sa.Integer, sa.Identity(), primary_key=True), Col("ts", _TS, nullable=False),
    Col("channel", _NAME, nullable=False), Col("target", _NAME), Col("event", sa.String(32), nullable=False),
    Col("alert_id", sa.Integer), Col("pipeline", _NAME), Col("run_id", _ID),
    Col("status", _SHORT, nullable=False), Col("attempts", sa.Integer), Col("error", _TEXT),
    sa.Index("ix_deliveries_channel_ts", "channel", "ts"),
)
RUN_CHILDREN = (attempts, events, datasets, checks, metrics, cost_lines)
SUMMARY_COLUMNS = [c for c in runs.c if c.name not in ("record_json", "params_json")]


def dumps(value: Any, *, strict: bool = False) -> str:
    """JSON text; ``strict`` (state, journal) refuses NaN and non-JSON values instead of stringifying."""
    if strict:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    return json.dumps(value, default=str, ensure_ascii=False)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def without(row: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != key}


def number(value: Any) -> float | None:
    """A finite float for SQL, or None (bools count as 0/1)."""
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def integer(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


KEPT = ("mode", "profile", "started_at", "run_dir")  # start_run's values survive a record without them


def run_row(record: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    error = record.get("error") or {}
    row = {k: record.get(k) for k in ("ended_at", "quality", "fingerprint", "skipped_reason")}
    row.update({k: record.get(k) or old.get(k) for k in KEPT})
    return {**row, "run_id": record["run_id"], "pipeline": record["pipeline"], "status": record["status"],
            "duration_s": number(record.get("duration_s")), "exit_code": integer(record.get("exit_code")),
            "params_json": dumps(record.get("params") or {}), "error_type": error.get("type"),
            "error_message": error.get("message"), "record_json": dumps(record), **resource_columns(record)}


def resource_columns(record: dict[str, Any]) -> dict[str, Any]:
    """The v2 `runs` columns of a record (a record from before v2 has its `cost_usd` only)."""
    cost = record.get("cost") or {}
    kernel = (record.get("resources") or {}).get("kernel") or {}
    return {"cost_usd": number(record.get("cost_usd")), "allocated_core_s": number(cost.get("allocated_core_s")),
            "busy_core_s": number(cost.get("busy_core_s")), "kernel_cpu_s": number(kernel.get("cpu_s")),
            "kernel_peak_rss_bytes": integer(kernel.get("peak_rss_bytes"))}


_LINE_COLUMNS = ("line", "op", "dataset", "core_s", "usd")


def cost_line_rows(record: dict[str, Any]) -> list[Row]:
    """The `cost_lines` rows of a record: its priced lines, or one estimate line for an old record."""
    started = record.get("started_at") or record.get("ended_at")
    day = str(started or "")[:10] or "unknown"
    lines = (record.get("cost") or {}).get("lines")
    if lines is None:
        usd = number(record.get("cost_usd"))
        if usd is None:
            return []
        lines = [{"line": "wall_clock_estimate", "usd": usd,
                  "quantity": "recorded cost_usd: wall time × the profile's cores (before resources were measured)"}]
    return [{"pipeline": record["pipeline"], "day": day, "started_at": started, "line": str(line.get("line")),
             "op": line.get("op"), "dataset": line.get("dataset"), "core_s": number(line.get("core_s")),
             "usd": number(line.get("usd")) or 0.0,
             "detail_json": dumps({k: v for k, v in line.items() if k not in _LINE_COLUMNS})}
            for line in lines]


def child_rows(record: dict[str, Any], evts: Iterable[dict[str, Any]]) -> dict[sa.Table, list[Row]]:
    """The attempts, events, datasets, checks and metrics rows of one run record."""
    rows: dict[sa.Table, list[Row]] = {t: [] for t in RUN_CHILDREN}
    for a in record.get("attempts") or []:
        rows[attempts].append({
            "attempt": integer(a.get("attempt")), "status": a.get("status"),
            "started_at": a.get("started_at"), "ended_at": a.get("ended_at"),
            "duration_s": number(a.get("duration_s")), "error_message": error_text(a.get("error")),
        })
    for seq, e in enumerate(evts):
        payload = {k: v for k, v in e.items() if k not in ("ts", "kind", "source", "attempt")}
        rows[events].append({
            "seq": seq, "ts": e.get("ts"), "kind": e.get("kind") or "unknown", "source": e.get("source"),
            "attempt": integer(e.get("attempt")), "payload_json": dumps(payload),
        })
    for direction, key in (("in", "inputs"), ("out", "outputs")):
        for d in (record.get("datasets") or {}).get(key) or []:
            version = d.get("schema_version")
            rows[datasets].append({
                "dataset": d.get("dataset"), "direction": direction, "path": d.get("path"),
                "schema_version": None if version is None else str(version),
                **{k: integer(d.get(k)) for k in ("rows", "bytes", "rejected_rows")},
            })
    for check in record.get("checks") or []:
        for r in check.get("results") or []:
            rows[checks].append({
                "suite": check.get("suite"), "dataset": check.get("dataset"),
                "expectation_type": r.get("expectation_type"),
                "column_name": (r.get("kwargs") or {}).get("column"),
                "success": r.get("success"), "unexpected_count": integer(r.get("unexpected_count")),
                "unexpected_percent": number(r.get("unexpected_percent")),
                "observed_value_json": dumps(r.get("observed_value")),
            })
    for name, value in (record.get("metrics") or {}).items():
        rows[metrics].append({"name": str(name), "value": number(value)})
    rows[cost_lines] = cost_line_rows(record)
    return rows


def error_text(error: Any) -> str | None:
    if error is None or isinstance(error, str):
        return error
    if isinstance(error, dict):
        return ": ".join(str(error[k]) for k in ("type", "message") if error.get(k)) or dumps(error)
    return str(error)


def full_record(row: dict[str, Any]) -> dict[str, Any]:
    """The stored run.json record, or for a run still running, what its row knows."""
    if row.get("record_json"):
        return dict(json.loads(row["record_json"]))
    summary = without(without(row, "record_json"), "params_json")
    return {"schema_version": 1, **summary, "params": loads(row.get("params_json")) or {}}
