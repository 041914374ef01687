"""A run store written by an older nbpipe is migrated when opened, with every row kept.

SQLite: the store in ``fixtures/store_v1.sql`` was written by nbpipe's store schema version 1 (three
runs, their children, state) and dumped with sqlite3's ``iterdump``. PostgreSQL
(``@pytest.mark.postgres``): a v1 store is made from today's DDL by removing what v2 added.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from nbpipe.run import store_migrations
from nbpipe.run import store_schema as tables
from nbpipe.run.store import SCHEMA_VERSION, RunStore
from tests.integration.conftest import pg_database, pg_url  # noqa: F401 - the scratch PostgreSQL fixtures

FIXTURE = Path(__file__).parent / "fixtures" / "store_v1.sql"
RUN_IDS = ["20130103T060000Z-cccc", "20130102T060000Z-bbbb", "20130101T060000Z-aaaa"]
OLD_COSTS = {"20130101T060000Z-aaaa": 0.00118, "20130102T060000Z-bbbb": 0.00059, "20130103T060000Z-cccc": 0.00236}
V2_COLUMNS = [name for name, _ in tables.RUN_RESOURCE_COLUMNS]


def _v1_sqlite(tmp_path: Path) -> str:
    db = tmp_path / "old.db"
    con = sqlite3.connect(db)
    con.executescript(FIXTURE.read_text())
    con.close()
    return f"sqlite:///{db}"


def _v1_postgres(url: str) -> str:
    with RunStore(url) as store:
        for run_id, cost in OLD_COSTS.items():
            started = f"{run_id[:4]}-{run_id[4:6]}-{run_id[6:8]}T06:00:00+00:00"
            record: dict[str, Any] = {"run_id": run_id, "pipeline": "ingest_flights", "started_at": started,
                                      "status": "failed" if run_id.endswith("bbbb") else "succeeded",
                                      "duration_s": 42.5, "cost_usd": cost, "metrics": {"late_departures": 7}}
            store.save_run(record, [{"ts": started, "kind": "run_started", "source": "runner"}])
        store.commit_state("ingest_flights", RUN_IDS[0], {"raw_flights": {"files": ["a.csv"]}},
                           committed_at="2013-01-03T06:01:00+00:00")
        with store.engine.begin() as conn:  # back to what version 1 had
            conn.execute(sa.text("DROP TABLE cost_lines"))
            for name in V2_COLUMNS:
                conn.execute(sa.text(f'ALTER TABLE runs DROP COLUMN "{name}"'))
            conn.execute(tables.meta.update().values(value="1"))
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def old_store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return _v1_sqlite(tmp_path)
    return _v1_postgres(str(request.getfixturevalue("pg_database")()))


def _count(store: RunStore, table: sa.Table) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_an_old_store_is_migrated_with_its_history_intact(old_store: str) -> None:
    engine = sa.create_engine(old_store)
    columns = {c["name"] for c in sa.inspect(engine).get_columns("runs")}
    engine.dispose()
    assert not set(V2_COLUMNS) & columns  # really a version-1 store
    with RunStore(old_store) as store:
        assert store.schema_version == SCHEMA_VERSION == 2
        assert [r["run_id"] for r in store.list_runs()] == RUN_IDS
        assert store.get_run(RUN_IDS[1])["status"] == "failed"
        assert store.get_state("ingest_flights")["raw_flights"] == {"files": ["a.csv"]}
        assert {r["run_id"]: r["cost_usd"] for r in store.list_runs()} == OLD_COSTS
        assert _count(store, tables.events) == 3
        with store.engine.connect() as conn:
            lines = conn.execute(sa.select(tables.cost_lines.c.run_id, tables.cost_lines.c.line,
                                           tables.cost_lines.c.usd, tables.cost_lines.c.day)).all()
            version = conn.execute(sa.select(tables.meta.c.value)).scalar_one()
        assert version == "2"
        assert sorted(lines) == sorted((rid, "wall_clock_estimate", usd, f"{rid[:4]}-{rid[4:6]}-{rid[6:8]}")
                                       for rid, usd in OLD_COSTS.items())
    with RunStore(old_store) as again, again.engine.begin() as conn:  # opening again changes nothing
        store_migrations.migrate(conn, 1)  # and a step run twice adds nothing twice
    with RunStore(old_store) as again:
        assert _count(again, tables.cost_lines) == 3 and _count(again, tables.runs) == 3


def test_a_migrated_store_takes_new_runs_with_their_cost_lines(old_store: str) -> None:
    record = {"run_id": "20130104T060000Z-dddd", "pipeline": "ingest_flights", "status": "succeeded",
              "started_at": "2013-01-04T06:00:00+00:00", "cost_usd": 0.5, "cost": {
                  "allocated_core_s": 10.0, "busy_core_s": 4.0, "total_usd": 0.5,
                  "lines": [{"line": "operation", "op": "write", "dataset": "flights", "core_s": 4.0, "usd": 0.2},
                            {"line": "idle_startup", "core_s": 6.0, "usd": 0.3}]}}
    with RunStore(old_store) as store:
        store.save_run(record, [])
        row = store.list_runs(limit=1)[0]
        assert (row["cost_usd"], row["allocated_core_s"], row["busy_core_s"]) == (0.5, 10.0, 4.0)
        assert _count(store, tables.cost_lines) == 3 + 2
        store.delete_runs([record["run_id"]])
        assert _count(store, tables.cost_lines) == 3
