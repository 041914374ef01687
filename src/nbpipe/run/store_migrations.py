"""Bring a run store written by an older nbpipe up to this version's schema, keeping its history.

``metadata.create_all`` adds missing *tables* by itself; a change to an existing table is a
numbered step here. :func:`migrate` runs, in the transaction that opens the store (serialised by
the store's schema lock on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), every step above the
stored ``schema_version`` and then records the new version, so a store is migrated whole or not
at all. Each step is idempotent (it checks what exists first) and only adds: no column, table or
row is dropped.

Versions:
    1: runs and their children, state, publish journal.
    2: ``runs`` gains what a run cost and used (``cost_usd``, ``allocated_core_s``, ``busy_core_s``,
       ``kernel_cpu_s``, ``kernel_peak_rss_bytes``); the ``cost_lines`` table (created by
       ``create_all``) gets one line per old run: the ``cost_usd`` its record holds, marked as a
       wall-clock estimate.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from nbpipe.run.store_schema import (
    RUN_RESOURCE_COLUMNS,
    cost_line_rows,
    cost_lines,
    loads,
    resource_columns,
    runs,
)

BATCH = 2000


def _add_run_columns(conn: sa.Connection) -> None:
    present = {c["name"] for c in sa.inspect(conn).get_columns("runs")}
    for name, kind in RUN_RESOURCE_COLUMNS:
        if name not in present:
            ddl = kind.compile(dialect=conn.dialect)
            conn.execute(sa.text(f'ALTER TABLE runs ADD COLUMN "{name}" {ddl}'))


def _backfill_costs(conn: sa.Connection) -> None:
    """Fill the new columns and one cost line per run from the run.json each row keeps."""
    priced = sa.select(cost_lines.c.run_id).distinct()
    query = (sa.select(runs.c.run_id, runs.c.record_json)
             .where(runs.c.record_json.is_not(None), runs.c.run_id.not_in(priced)).order_by(runs.c.run_id))
    last = ""
    while True:
        batch = conn.execute(query.where(runs.c.run_id > last).limit(BATCH)).all()
        if not batch:
            return
        lines = []
        for run_id, text in batch:
            record = loads(str(text)) or {}
            record.setdefault("pipeline", "")
            conn.execute(runs.update().where(runs.c.run_id == run_id).values(**resource_columns(record)))
            lines += [{"run_id": run_id, **row} for row in cost_line_rows(record)]
        if lines:
            conn.execute(cost_lines.insert(), lines)
        last = batch[-1][0]


def _to_2(conn: sa.Connection) -> None:
    _add_run_columns(conn)
    _backfill_costs(conn)


STEPS: dict[int, Callable[[sa.Connection], None]] = {2: _to_2}
LATEST = max(STEPS)


def migrate(conn: sa.Connection, found: int) -> int:
    """Apply every step above version ``found``; return the version the store is now at."""
    for version in sorted(v for v in STEPS if v > found):
        STEPS[version](conn)
    return max(found, LATEST)
