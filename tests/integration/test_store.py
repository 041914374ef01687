"""The run-history store against a real SQLite file and a real PostgreSQL server.

Every test in the ``store`` suite runs twice: on a fresh SQLite file, and on a fresh database of a
throwaway PostgreSQL server (``@pytest.mark.postgres``; see ``tests/pg.py``).
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from nbpipe.errors import ParameterError, StoreError
from nbpipe.run import store as st
from nbpipe.run import store_schema as tables
from nbpipe.run.store import RunStore

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
PIPE = "ingest_flights"


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of an empty database (no schema yet) on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/runs/nbpipe.db"  # the runs/ directory does not exist yet
    return str(request.getfixturevalue("pg_database")())


@pytest.fixture
def store(store_url: str) -> Iterator[RunStore]:
    with RunStore(store_url) as opened:
        yield opened


def make_record(run_id: str, started_at: str, *, pipeline: str = PIPE, status: str = "succeeded",
                **extra: Any) -> dict[str, Any]:
    """A realistic run.json (schema v1) record: two attempts, datasets, checks, metrics, state."""
    failed = status == "failed"
    error = None if not failed else {
        "type": "CellExecutionError", "message": "cell In [4] raised KeyError: 'dep_delay'",
        "hint": "fix the cell and rerun", "cell_index": 4, "ename": "KeyError", "evalue": "'dep_delay'",
        "traceback": ["Traceback (most recent call last):", "KeyError: 'dep_delay'"],
    }
    record: dict[str, Any] = {
        "schema_version": 1, "run_id": run_id, "pipeline": pipeline, "project": "flights",
        "notebook": "notebooks/ingest_flights.ipynb", "mode": "prod", "profile": "dev", "status": status,
        "exit_code": 10 if failed else 0, "started_at": started_at, "ended_at": started_at,
        "duration_s": 42.5, "params": {"run_date": "2013-01-02", "api_token": "***"},
        "secret_params": ["api_token"],
        "attempts": [
            {"attempt": 1, "status": "failed", "started_at": started_at, "ended_at": started_at,
             "duration_s": 12.0, "error": {"type": "KernelDiedError", "message": "kernel died"}},
            {"attempt": 2, "status": status, "started_at": started_at, "ended_at": started_at,
             "duration_s": 30.5, "error": error},
        ],
        "error": error,
        "cells": [{"index": 0, "execution_count": 1, "first_line": "run_date = '2013-01-02'", "status": "ok",
                   "duration_s": 0.01}],
        "datasets": {
            "inputs": [{"dataset": "raw_flights", "rows": 842, "bytes": 91_234, "schema_version": None,
                        "rejected_rows": 3, "path": "data/landing/flights/date=2013-01-02"}],
            "outputs": [{"dataset": "flights", "rows": 839, "bytes": 40_111, "schema_version": 2,
                         "rejected_rows": 0, "path": "warehouse/flights"}],
        },
        "checks": [{
            "suite": "flights", "dataset": "flights", "success": False, "gate": "warn",
            "statistics": {"evaluated": 2, "successful": 1, "unsuccessful": 1},
            "results": [
                {"expectation_type": "expect_column_values_to_not_be_null", "kwargs": {"column": "carrier"},
                 "success": True, "unexpected_count": 0, "unexpected_percent": 0.0,
                 "partial_unexpected_list": [], "observed_value": None},
                {"expectation_type": "expect_column_values_to_be_between",
                 "kwargs": {"column": "dep_delay", "min_value": -60, "max_value": 600}, "success": False,
                 "unexpected_count": 2, "unexpected_percent": 0.238, "partial_unexpected_list": [1301, 911],
                 "observed_value": {"min": -43, "max": 1301}},
                {"expectation_type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1},
                 "success": True, "unexpected_count": None, "unexpected_percent": None,
                 "partial_unexpected_list": [], "observed_value": 839},
            ],
        }],
        "metrics": {"late_departures": 117, "late_ratio": 0.1394, "all_checked": True},
        "state": {"before": {}, "after": {"raw_flights": {"kind": "files", "files": ["date=2013-01-02"]}}},
        "quality": "warned", "warnings": ["1 expectation failed in suite flights (gate: warn)"],
        "versions": {"python": "3.11.9", "nbpipe": "0.1.0", "papermill": "2.7.0", "nbconvert": "7.17.0",
                     "pyspark": "4.3.0", "great_expectations": "1.24.0"},
        "git": {"commit": "0123abc", "dirty": False}, "host": "ci-1", "pid": 4242,
        "retry_command": f"nbpipe run {pipeline} -p run_date=2013-01-02", "cost_usd": 0.0012,
        "artifacts": {"notebook": "output.ipynb", "report": "report.html", "events": "events.jsonl"},
    }
    record.update(extra)
    return record


def make_events(run_id: str, ts: str = "2013-01-02T06:00:01+00:00") -> list[dict[str, Any]]:
    return [
        {"ts": ts, "kind": "run_started", "source": "runner", "run_id": run_id, "params": {"run_date": "x"}},
        {"ts": ts, "kind": "attempt_started", "source": "runner", "attempt": 1},
        {"ts": ts, "kind": "dataset_read", "source": "kernel", "attempt": 1, "dataset": "raw_flights",
         "rows": 842, "schema": [["carrier", "string"]]},
        {"ts": ts, "kind": "metric", "source": "kernel", "attempt": 2, "name": "late_departures",
         "value": 117},
        {"ts": ts, "kind": "run_finished", "source": "runner", "status": "succeeded", "exit_code": 0},
    ]


def save(store: RunStore, run_id: str, started_at: str, **kw: Any) -> dict[str, Any]:
    pipeline = kw.get("pipeline", PIPE)
    store.start_run(run_id, pipeline, started_at=started_at, mode="prod", profile="dev",
                    params={"run_date": "2013-01-02"}, run_dir=f"/runs/{pipeline}/{run_id}")
    record = make_record(run_id, started_at, **kw)
    store.save_run(record, make_events(run_id))
    return record


def count(store: RunStore, table: sa.Table, run_id: str | None = None) -> int:
    query = sa.select(sa.func.count()).select_from(table)
    if run_id is not None:
        query = query.where(table.c.run_id == run_id)
    with store.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


# ----------------------------------------------------------------------------------- schema
def test_schema_is_created_once_with_its_version(store: RunStore, store_url: str) -> None:
    names = set(sa.inspect(store.engine).get_table_names())
    assert {"meta", "runs", "attempts", "events", "datasets", "checks", "metrics", "state", "state_history",
            "publish_journal", "cost_lines"} <= names
    indexes = {ix["name"] for ix in sa.inspect(store.engine).get_indexes("runs")}
    assert {"ix_runs_pipeline_started", "ix_runs_status"} <= indexes
    with store.engine.connect() as conn:
        version = conn.execute(sa.select(tables.meta.c.value).where(tables.meta.c.key == "schema_version")).scalar()
    assert version == str(st.SCHEMA_VERSION)
    save(store, "r1", "2013-01-02T06:00:00+00:00")
    with RunStore(store_url) as reopened:  # create_all on an existing schema keeps the data
        assert reopened.schema_version == st.SCHEMA_VERSION
        assert [r["run_id"] for r in reopened.list_runs()] == ["r1"]


def test_a_store_written_by_a_newer_nbpipe_is_refused(store: RunStore, store_url: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(tables.meta.update().where(tables.meta.c.key == "schema_version").values(value="99"))
    with pytest.raises(StoreError, match="schema version 99, newer") as err:
        RunStore(store_url)
    assert "pip install -U nbpipe" in str(err.value)


# ------------------------------------------------------------------------------------- runs
def test_start_run_then_save_run_round_trips_the_full_record(store: RunStore) -> None:
    rid = "20130102T060000Z-a1b2"
    store.start_run(rid, PIPE, started_at="2013-01-02T06:00:00Z", mode="prod", profile="dev",
                    params={"run_date": "2013-01-02"}, run_dir="/runs/ingest_flights/x")
    running = store.get_run(rid)
    assert running["status"] == "running" and running["run_dir"] == "/runs/ingest_flights/x"
    assert running["params"] == {"run_date": "2013-01-02"}
    assert running["started_at"] == "2013-01-02T06:00:00+00:00"

    record = make_record(rid, "2013-01-02T06:00:00+00:00", fingerprint="fp-123")
    events = make_events(rid)
    store.save_run(record, events)

    assert store.get_run(rid) == record
    assert store.get_events(rid) == events
    [summary] = store.list_runs()
    assert summary == {
        "run_id": rid, "pipeline": PIPE, "status": "succeeded", "mode": "prod", "profile": "dev",
        "started_at": "2013-01-02T06:00:00+00:00", "ended_at": "2013-01-02T06:00:00+00:00",
        "duration_s": 42.5,
        "exit_code": 0, "error_type": None, "error_message": None, "fingerprint": "fp-123",
        "run_dir": "/runs/ingest_flights/x", "quality": "warned", "skipped_reason": None,
        "cost_usd": record["cost_usd"], "allocated_core_s": None, "busy_core_s": None, "kernel_cpu_s": None,
        "kernel_peak_rss_bytes": None,  # schema v2: a record without `cost`/`resources` fills cost_usd only
    }
    with store.engine.connect() as conn:
        attempts = conn.execute(sa.select(tables.attempts).order_by(tables.attempts.c.attempt)).mappings().all()
        assert [(a["attempt"], a["status"], a["duration_s"]) for a in attempts] == [(1, "failed", 12.0),
                                                                                   (2, "succeeded", 30.5)]
        assert attempts[0]["error_message"] == "KernelDiedError: kernel died"
        io = conn.execute(sa.select(tables.datasets).order_by(tables.datasets.c.direction)).mappings().all()
        facts = [tuple(d[k] for k in ("dataset", "direction", "rows", "rejected_rows", "schema_version"))
                 for d in io]
        assert facts == [("raw_flights", "in", 842, 3, None), ("flights", "out", 839, 0, "2")]
        checks = conn.execute(sa.select(tables.checks).order_by(tables.checks.c.expectation_type)).mappings().all()
        between = next(c for c in checks if c["expectation_type"].endswith("to_be_between"))
        assert between["column_name"] == "dep_delay"
        assert between["success"] is False and between["unexpected_count"] == 2
        assert json.loads(between["observed_value_json"]) == {"min": -43, "max": 1301}
        assert len(checks) == 3 and any(c["column_name"] is None for c in checks)
        query = sa.select(tables.metrics.c.name, tables.metrics.c.value)
        metrics: dict[str, float] = dict(conn.execute(query).tuples().all())
        assert metrics == {"late_departures": 117.0, "late_ratio": 0.1394, "all_checked": 1.0}


def test_saving_a_run_again_replaces_its_child_rows(store: RunStore) -> None:
    record = save(store, "r1", "2013-01-02T06:00:00+00:00")
    assert (count(store, tables.events, "r1"), count(store, tables.checks, "r1")) == (5, 3)
    smaller = {**copy.deepcopy(record), "status": "failed", "checks": [], "metrics": {"x": 1}}
    store.save_run(smaller, make_events("r1")[:2])
    children = (tables.attempts, tables.events, tables.checks, tables.metrics)
    assert [count(store, t, "r1") for t in children] == [2, 2, 0, 1]
    assert store.get_run("r1")["status"] == "failed"
    assert count(store, tables.runs) == 1


def test_save_run_is_one_transaction(store: RunStore) -> None:
    store.start_run("r1", PIPE, started_at="2013-01-02T06:00:00Z", mode="prod", profile="dev", params={},
                    run_dir="/r")
    broken = make_record("r1", "2013-01-02T06:00:00Z")
    broken["datasets"]["outputs"].append({"dataset": None, "rows": 1})  # NOT NULL violation, last insert
    with pytest.raises(StoreError, match=r"could not save run 'r1'"):
        store.save_run(broken, make_events("r1"))
    assert store.get_run("r1")["status"] == "running"  # the run row update was rolled back too
    assert [count(store, t, "r1") for t in tables.RUN_CHILDREN] == [0] * len(tables.RUN_CHILDREN)
    with pytest.raises(StoreError, match="without 'pipeline'"):
        store.save_run({"run_id": "r2", "status": "failed"}, [])


def test_failed_runs_keep_their_error_in_columns(store: RunStore) -> None:
    save(store, "bad", "2013-01-02T06:00:00+00:00", status="failed")
    [row] = store.list_runs(status="failed")
    assert (row["error_type"], row["exit_code"]) == ("CellExecutionError", 10)
    assert "KeyError" in row["error_message"]
    assert store.get_run("bad")["error"]["traceback"][-1] == "KeyError: 'dep_delay'"


def test_list_runs_filters_limits_and_orders_newest_first(store: RunStore) -> None:
    plan = [("a3", PIPE, "succeeded", "2013-01-03T06:00:00+00:00"),
            ("a1", PIPE, "failed", "2013-01-01T06:00:00+00:00"),
            ("b2", "daily_summary", "succeeded", "2013-01-02T07:00:00+00:00"),
            ("a2", PIPE, "succeeded", "2013-01-02T06:00:00+00:00"),
            ("a4", PIPE, "skipped", "2013-01-04T08:00:00+02:00")]  # 06:00Z: after a3
    for rid, pipeline, status, started in plan:
        save(store, rid, started, pipeline=pipeline, status=status)
    assert [r["run_id"] for r in store.list_runs()] == ["a4", "a3", "b2", "a2", "a1"]
    assert [r["run_id"] for r in store.list_runs(PIPE)] == ["a4", "a3", "a2", "a1"]
    assert [r["run_id"] for r in store.list_runs(status="succeeded")] == ["a3", "b2", "a2"]
    assert [r["run_id"] for r in store.list_runs(PIPE, status="succeeded", limit=1)] == ["a3"]
    assert [r["run_id"] for r in store.list_runs(limit=2)] == ["a4", "a3"]
    assert store.list_runs("no_such_pipeline") == []
    assert store.list_runs(PIPE)[0]["started_at"] == "2013-01-04T06:00:00+00:00"  # normalised to UTC
    with pytest.raises(StoreError, match="unknown run status 'faild' \\(did you mean 'failed'\\?\\)"):
        store.list_runs(status="faild")
    with pytest.raises(StoreError, match="at least 1"):
        store.list_runs(limit=0)


def test_get_run_by_prefix_and_its_errors(store: RunStore) -> None:
    for rid, started in (("20130102T060000Z-aaaa", "2013-01-02T06:00:00Z"),
                         ("20130102T060000Z-abcd", "2013-01-02T06:00:01Z"),
                         ("20130103T060000Z-ffff", "2013-01-03T06:00:00Z"),
                         ("20130103T060000Z-ffff0", "2013-01-03T06:00:01Z")):
        save(store, rid, started)
    assert store.get_run("20130102T060000Z-ab")["run_id"] == "20130102T060000Z-abcd"
    assert store.get_run("20130103T060000Z-ffff")["run_id"] == "20130103T060000Z-ffff"  # exact beats prefix
    with pytest.raises(ParameterError, match="ambiguous") as ambiguous:  # a usage error (exit 3)
        store.get_run("20130102")
    assert "20130102T060000Z-aaaa" in ambiguous.value.message
    assert "20130102T060000Z-abcd" in ambiguous.value.message
    with pytest.raises(ParameterError, match="did you mean '20130102T060000Z-abcd'") as unknown:
        store.get_run("20130102T060000Z-abce")
    assert unknown.value.hint is not None and "nbpipe runs" in unknown.value.hint
    for wildcard in ("%", "_", "2013010_"):  # LIKE wildcards are literal characters in run ids
        with pytest.raises(ParameterError, match="no run"):
            store.get_run(wildcard)


@pytest.mark.parametrize(
    ("url", "message", "hint"),
    [
        ("mysql://u:pw@localhost/db", "'mysql' databases are not supported", "postgresql+psycopg://"),
        ("postgresql+psycopg2://u:pw@localhost/db", "the driver 'psycopg2' is not supported for PostgreSQL",
         "sqlite:///"),
        ("sqlite+pysqlcipher:///x.db", "the driver 'pysqlcipher' is not supported for SQLite", "sqlite:///"),
    ],
)
def test_an_unsupported_database_url_names_the_supported_ones(url: str, message: str, hint: str) -> None:
    with pytest.raises(StoreError) as err:
        RunStore(url)
    assert message in err.value.message and "pw" not in err.value.message
    assert err.value.hint is not None and hint in err.value.hint and "pip install" not in err.value.hint


def test_last_successful_is_the_newest_succeeded_run_of_the_pipeline(store: RunStore) -> None:
    assert store.last_successful(PIPE) is None
    save(store, "old", "2013-01-01T06:00:00Z", fingerprint="fp-old")
    save(store, "good", "2013-01-02T06:00:00Z", fingerprint="fp-good")
    save(store, "newer-failed", "2013-01-03T06:00:00Z", status="failed", fingerprint="fp-failed")
    save(store, "other", "2013-01-04T06:00:00Z", pipeline="daily_summary", fingerprint="fp-other")
    best = store.last_successful(PIPE)
    assert best is not None and (best["run_id"], best["fingerprint"]) == ("good", "fp-good")


def test_gc_lists_old_runs_and_deletes_them_with_their_rows(store: RunStore) -> None:
    for i in range(1, 6):
        save(store, f"r{i}", f"2013-01-0{i}T06:00:00+00:00")
    store.commit_state(PIPE, "r2", {"raw_flights": {"files": ["a"]}}, committed_at="2013-01-02T07:00:00Z")
    old = store.runs_before("2013-01-03T06:00:00Z")
    assert [r["run_id"] for r in old] == ["r1", "r2"]
    assert store.delete_runs([r["run_id"] for r in old] + ["never-existed"]) == 2
    assert [r["run_id"] for r in store.list_runs()] == ["r5", "r4", "r3"]
    for table in tables.RUN_CHILDREN:
        assert count(store, table, "r1") == 0 and count(store, table, "r3") > 0
    assert store.get_state(PIPE) == {"raw_flights": {"files": ["a"]}}  # state outlives its run's record
    assert store.delete_runs([]) == 0


def test_metric_and_dataset_history_for_the_dashboard(store: RunStore) -> None:
    save(store, "r1", "2013-01-01T06:00:00Z", metrics={"late": 5})
    save(store, "r2", "2013-01-02T06:00:00Z", metrics={"late": 7, "rows": 100})
    save(store, "s1", "2013-01-02T09:00:00Z", pipeline="daily_summary", metrics={"late": 1})
    history = store.metrics_history(PIPE)
    assert [(m["run_id"], m["name"], m["value"]) for m in history] == [
        ("r1", "late", 5.0), ("r2", "late", 7.0), ("r2", "rows", 100.0)]
    assert {m["run_id"] for m in store.metrics_history(None, "2013-01-02T00:00:00Z")} == {"r2", "s1"}
    io = store.dataset_history(PIPE, dataset="flights")
    assert [(d["run_id"], d["direction"], d["rows"], d["schema_version"]) for d in io] == [
        ("r1", "out", 839, "2"), ("r2", "out", 839, "2")]
    assert len(store.dataset_history(since_iso="2013-01-02T08:00:00+00:00")) == 2  # s1: one in, one out


# ------------------------------------------------------------------------------------ state
def test_commit_state_upserts_and_appends_history(store: RunStore) -> None:
    assert store.get_state(PIPE) == {}
    store.commit_state(PIPE, "r1", {"raw_flights": {"files": ["d1"]}, "weather": {"watermark": "2013-01-01"}},
                       committed_at="2013-01-01T07:00:00Z")
    store.commit_state(PIPE, "r2", {"raw_flights": {"files": ["d1", "d2"]}},
                       committed_at="2013-01-02T07:00:00Z")
    store.commit_state("other", "o1", {"raw_flights": {"files": []}}, committed_at="2013-01-02T07:00:00Z")
    assert store.get_state(PIPE) == {"raw_flights": {"files": ["d1", "d2"]},
                                     "weather": {"watermark": "2013-01-01"}}
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(tables.state).where(tables.state.c.dataset == "raw_flights",
                                                     tables.state.c.pipeline == PIPE)).mappings().one()
    assert (row["run_id"], row["committed_at"]) == ("r2", "2013-01-02T07:00:00+00:00")
    history = store.state_history(PIPE, "raw_flights")
    assert [(h["run_id"], h["position"]) for h in history] == [("r1", {"files": ["d1"]}),
                                                              ("r2", {"files": ["d1", "d2"]})]
    assert len(store.state_history(PIPE)) == 3


def test_commit_state_rejects_a_bad_dataset_name_and_commits_nothing(store: RunStore) -> None:
    with pytest.raises(StoreError, match="is no dataset name"):
        store.commit_state(PIPE, "r1", {"ok": {"n": 1}, "": {"n": 2}}, committed_at="2013-01-01T07:00:00Z")
    assert store.get_state(PIPE) == {} and store.state_history(PIPE) == []


# -------------------------------------------------------------------------- publish journal
def test_publish_journal_pending_then_done_with_state(store: RunStore) -> None:
    payload: dict[str, Any] = {"run_dir": "/runs/x/r1", "positions": {"raw_flights": {"files": ["d2"]}},
                               "staged": [{"dataset": "flights", "partitions": ["2013-01-02"]}]}
    first = store.begin_publish("r1", PIPE, payload)
    second = store.begin_publish("s1", "other", {"staged": []})
    pending = store.pending_publishes(PIPE)
    assert [(p["id"], p["run_id"], p["status"], p["payload"]) for p in pending] == [
        (first, "r1", "pending", payload)]
    assert [p["id"] for p in store.pending_publishes()] == [first, second]
    store.finish_publish(first, pipeline=PIPE, run_id="r1", positions=payload["positions"],
                         committed_at="2013-01-02T07:00:00Z")
    assert store.pending_publishes(PIPE) == []
    assert store.get_state(PIPE) == {"raw_flights": {"files": ["d2"]}}
    # A second finish (another recoverer lost the race) changes nothing.
    store.finish_publish(first, pipeline=PIPE, run_id="r1", positions={"raw_flights": {"files": ["zzz"]}},
                         committed_at="2013-01-03T07:00:00Z")
    assert store.get_state(PIPE) == {"raw_flights": {"files": ["d2"]}}
    assert len(store.state_history(PIPE)) == 1
    with pytest.raises(StoreError, match=r"no publish journal entry #9999"):
        store.finish_publish(9999, pipeline=PIPE, run_id="r1", positions={},
                             committed_at="2013-01-03T07:00:00Z")


def test_finish_publish_commits_both_or_neither(store: RunStore) -> None:
    store.commit_state(PIPE, "r0", {"raw_flights": {"files": ["d1"]}}, committed_at="2013-01-01T07:00:00Z")
    journal = store.begin_publish("r1", PIPE, {"positions": {"raw_flights": {"files": ["d1", "d2"]}}})
    with store.engine.begin() as conn:  # the history insert, after journal update and state upsert, fails
        conn.execute(sa.text("DROP TABLE state_history"))
    with pytest.raises(StoreError, match=rf"could not finish publish #{journal} of run 'r1'") as err:
        store.finish_publish(journal, pipeline=PIPE, run_id="r1",
                             positions={"raw_flights": {"files": ["d1", "d2"]}},
                             committed_at="2013-01-02T07:00:00Z")
    assert err.value.hint is not None and "schema is incomplete" in err.value.hint
    assert [p["id"] for p in store.pending_publishes(PIPE)] == [journal]  # still pending: recovery redoes it
    assert store.get_state(PIPE) == {"raw_flights": {"files": ["d1"]}}  # the state upsert was rolled back


def test_unserialisable_positions_leave_the_journal_pending(store: RunStore) -> None:
    journal = store.begin_publish("r1", PIPE, {})
    with pytest.raises(StoreError, match="could not finish publish"):
        store.finish_publish(journal, pipeline=PIPE, run_id="r1", positions={"raw": {"x": float("nan")}},
                             committed_at="2013-01-02T07:00:00Z")
    with pytest.raises(StoreError, match="could not finish publish"):
        store.finish_publish(journal, pipeline=PIPE, run_id="r1", positions={"raw": {"at": object()}},
                             committed_at="2013-01-02T07:00:00Z")
    assert [p["id"] for p in store.pending_publishes()] == [journal] and store.get_state(PIPE) == {}


# ------------------------------------------------------------------------------ concurrency
WORKER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from nbpipe.run.store import RunStore

    url, worker, runs, flag = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
    store = RunStore(url)  # every worker races to create the schema of a fresh database
    (flag.parent / f"ready-{worker}").touch()
    while not flag.exists():
        time.sleep(0.005)
    for i in range(runs):
        rid = f"w{worker}-{i:03d}"
        ts = f"2013-01-01T{worker:02d}:{i // 60:02d}:{i % 60:02d}+00:00"
        store.start_run(rid, "shared", started_at=ts, mode="prod", profile="dev", params={}, run_dir="/r")
        events = [{"ts": ts, "kind": "metric", "source": "kernel", "attempt": 1, "name": "n", "value": j}
                  for j in range(20)]
        store.save_run({"run_id": rid, "pipeline": "shared", "status": "succeeded", "started_at": ts,
                        "metrics": {"i": i}, "attempts": [{"attempt": 1, "status": "succeeded"}]}, events)
        journal = store.begin_publish(rid, "shared", {"i": i})
        store.finish_publish(journal, pipeline="shared", run_id=rid, positions={"raw": {"last": rid}},
                             committed_at=ts)
    store.close()
""")


def test_concurrent_writers_in_several_processes_all_succeed(store_url: str, tmp_path: Path) -> None:
    workers, runs = 3, 12
    flag = tmp_path / "go"
    cmd = [sys.executable, "-c", WORKER, store_url]
    procs = [subprocess.Popen([*cmd, str(w), str(runs), str(flag)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for w in range(workers)]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("ready-*"))) < workers and time.monotonic() < deadline:
        if any(p.poll() not in (None, 0) for p in procs):
            break
        time.sleep(0.01)
    flag.touch()  # all workers start writing at the same moment
    outcomes = [(p.wait(timeout=300), p.stderr.read() if p.stderr else "") for p in procs]
    assert [code for code, _ in outcomes] == [0] * workers, outcomes
    with RunStore(store_url) as store:
        listed = store.list_runs("shared", limit=1000)
        assert len(listed) == workers * runs and {r["status"] for r in listed} == {"succeeded"}
        assert count(store, tables.events) == workers * runs * 20
        assert count(store, tables.metrics) == count(store, tables.attempts) == workers * runs
        assert len(store.state_history("shared")) == workers * runs
        assert store.pending_publishes() == []
        assert store.get_state("shared")["raw"]["last"].endswith(f"-{runs - 1:03d}")


# ---------------------------------------------------------------------------------- errors
def test_unreachable_server_gives_a_store_error_with_the_password_masked() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused
        url = f"postgresql+psycopg://nbpipe:s3cr3t-pw@127.0.0.1:{port}/runs"
        with pytest.raises(StoreError) as err:
            RunStore(url)
    text = str(err.value)
    assert "s3cr3t-pw" not in text and "s3cr3t-pw" not in repr(err.value.__dict__)
    assert f"postgresql+psycopg://nbpipe:***@127.0.0.1:{port}/runs" in err.value.message
    assert err.value.hint is not None and "server is running" in err.value.hint
    assert err.value.exit_code == 14


def test_bad_urls_and_paths_give_store_errors(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not a valid database URL"):
        RunStore("not a url")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(StoreError, match="cannot create the SQLite file's directory") as err:
        RunStore(f"sqlite:///{tmp_path}/afile/sub/nbpipe.db")
    assert err.value.hint is not None and "writable" in err.value.hint
    (tmp_path / "junk.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="could not create the store schema"):
        RunStore(f"sqlite:///{tmp_path}/junk.db")


def test_sqlite_is_set_up_for_several_processes(tmp_path: Path) -> None:
    with RunStore(f"sqlite:///{tmp_path}/nbpipe.db") as store, store.engine.connect() as conn:
        pragmas = {p: conn.exec_driver_sql(f"PRAGMA {p}").scalar() for p in ("journal_mode", "foreign_keys",
                                                                              "busy_timeout")}
    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 60_000}
