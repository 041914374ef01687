"""Incremental reads (files and watermark) on a real local Spark session.

Each test builds a throwaway project, a run scope in it and drives ``read_incremental`` the way
the runner does: the committed positions go in a ``state_in.json`` named by ``NBPIPE_STATE``, the
proposal comes back as a ``state_proposal`` event, and a resume gets the failed run's proposal
through ``NBPIPE_RESUME_SNAPSHOT``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from nbpipe.core import events
from nbpipe.core.layout import list_files
from nbpipe.core.protocol import ENV_BACKFILL_DAY, ENV_RESUME, ENV_STATE, Mode
from nbpipe.data.incremental import read_incremental
from nbpipe.errors import DatasetError, StateError
from tests.support.pg import jdbc_jar
from tests.support.projects import load
from tests.support.scope import ScopeForTest

pytestmark = [pytest.mark.spark, pytest.mark.usefixtures("clean_env")]
UTC = dt.UTC


DATASETS = {
    "raw": {"path": "landing/raw", "format": "csv", "options": {"header": "true", "inferSchema": "true"}},
    "orders": {"path": "landing/orders", "format": "parquet", "primary_key": ["id"]},
    "nokey": {"path": "landing/orders", "format": "parquet"},
    "by_contract": {"path": "landing/orders", "format": "parquet", "contract": "contracts/orders.yaml"},
    "table": {"format": "jdbc", "options": {"url": "jdbc:postgresql://127.0.0.1:1/x", "dbtable": "t"}},
}


class Harness:
    """A project on disk, a context in it, and helpers to run reads like the runner would."""

    def __init__(self, root: Path, spark: Any, monkeypatch: pytest.MonkeyPatch, **extra: dict) -> None:
        self.root = root
        self.spark = spark
        self.mp = monkeypatch
        self.project = load(root, project="t", datasets={**DATASETS, **extra})
        self.runs = 0

    def context(self, mode: Mode = "prod") -> ScopeForTest:
        self.runs += 1
        run_id = f"run{self.runs}"
        return ScopeForTest(self.project, self.spark, self.root / "runs" / "p" / run_id, run_id=run_id, mode=mode,
                            pipeline="p")

    def read(self, name: str, state: dict | None = None, resume: dict | None = None, **kw: Any) -> tuple:
        """Run one incremental read; returns (rows as sorted tuples, proposal event, df)."""
        ctx = self.context()
        if state is not None:
            path = ctx.run_dir / "state_in.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(state))
            self.mp.setenv(ENV_STATE, str(path))
        else:
            self.mp.delenv(ENV_STATE, raising=False)
        if resume is not None:
            path = ctx.run_dir / "resume.json"
            path.write_text(json.dumps(resume))
            self.mp.setenv(ENV_RESUME, str(path))
        else:
            self.mp.delenv(ENV_RESUME, raising=False)
        df = read_incremental(ctx, name, **kw)
        proposals = events.of_kind(ctx.log.read(), events.STATE_PROPOSAL)
        assert len(proposals) == 1 and proposals[0]["attempt"] == 1
        reads = events.of_kind(ctx.log.read(), events.DATASET_READ)
        assert reads and reads[-1]["dataset"] == name and reads[-1]["rows"] == proposals[0]["rows"]
        return sorted(tuple(r) for r in df.collect()), proposals[0], df

    def csv(self, rel: str, rows: list[tuple[int, str]]) -> Path:
        path = self.root / "landing" / "raw" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("id,name\n" + "".join(f"{i},{n}\n" for i, n in rows))
        return path

    def orders(self, part: str, rows: list[tuple[int, dt.datetime, float]]) -> None:
        path = self.root / "landing" / "orders" / f"{part}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pa.table({
            "id": pa.array([r[0] for r in rows], pa.int64()),
            "updated_at": pa.array([r[1] for r in rows], pa.timestamp("us", tz="UTC")),
            "amount": pa.array([r[2] for r in rows], pa.float64()),
        })
        pq.write_table(table, path)


@pytest.fixture
def h(tmp_path: Path, spark: Any, monkeypatch: pytest.MonkeyPatch) -> Harness:
    return Harness(tmp_path, spark, monkeypatch)


# --------------------------------------------------------------------------- files


def test_list_files_skips_hidden_and_markers(tmp_path: Path) -> None:
    names = ["date=1/a.csv", "date=1/.a.csv.crc", "_SUCCESS", ".hidden/x.csv", "_temporary/0/y.csv", "b.csv"]
    for rel in names:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("id\n1\n")
    listing = list_files(tmp_path)
    assert sorted(listing) == ["b.csv", "date=1/a.csv"]
    assert listing["b.csv"]["size"] == 5 and listing["b.csv"]["mtime_ns"] > 0


def test_new_files_then_nothing_new(h: Harness) -> None:
    h.csv("date=2013-01-01/a.csv", [(1, "x"), (2, "y")])
    h.csv("date=2013-01-02/b.csv", [(3, "z")])
    rows, prop, df = h.read("raw", state={})
    d1, d2 = dt.date(2013, 1, 1), dt.date(2013, 1, 2)
    assert rows == [(1, "x", d1), (2, "y", d1), (3, "z", d2)]
    assert prop["incremental"] == "files" and prop["rows"] == 3 and prop["warnings"] == []
    assert sorted(prop["position"]["files"]) == ["date=2013-01-01/a.csv", "date=2013-01-02/b.csv"]
    assert [f["path"] for f in prop["snapshot"]["files"]] == sorted(prop["position"]["files"])
    # the runner committed the position; nothing new -> an empty frame with the same schema
    rows2, prop2, df2 = h.read("raw", state={"raw": prop["position"]})
    assert rows2 == [] and prop2["rows"] == 0
    assert df2.schema == df.schema
    assert prop2["position"] == prop["position"] and prop2["snapshot"]["files"] == []


def test_late_file_in_old_partition_is_read_once(h: Harness) -> None:
    h.csv("date=2013-01-01/a.csv", [(1, "x")])
    h.csv("date=2013-01-02/b.csv", [(2, "y")])
    _, prop, _ = h.read("raw", state={})
    h.csv("date=2013-01-01/late.csv", [(9, "late")])
    rows, prop2, _ = h.read("raw", state={"raw": prop["position"]})
    assert rows == [(9, "late", dt.date(2013, 1, 1))]
    assert len(prop2["position"]["files"]) == 3
    rows3, _, _ = h.read("raw", state={"raw": prop2["position"]})
    assert rows3 == []


def test_changed_file_is_reread_with_a_warning(h: Harness) -> None:
    path = h.csv("a.csv", [(1, "x")])
    _, prop, _ = h.read("raw", state={})
    h.csv("a.csv", [(1, "x"), (2, "fixed")])
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    rows, prop2, _ = h.read("raw", state={"raw": prop["position"]})
    assert rows == [(1, "x"), (2, "fixed")]
    assert prop2["snapshot"]["changed"] == ["a.csv"]
    assert any("a.csv changed" in w for w in prop2["warnings"])
    assert prop2["position"]["files"]["a.csv"]["size"] == path.stat().st_size


def test_max_files_leaves_the_rest_for_the_next_run(h: Harness) -> None:
    for day in (1, 2, 3):
        h.csv(f"date=2013-01-0{day}/p.csv", [(day, "d")])
    rows, prop, _ = h.read("raw", state={}, max_files=2)
    assert [r[0] for r in rows] == [1, 2]
    assert any("1 new file(s) left" in w for w in prop["warnings"])
    rows2, _, _ = h.read("raw", state={"raw": prop["position"]}, max_files=2)
    assert [r[0] for r in rows2] == [3]


def test_resume_reads_exactly_the_failed_runs_files(h: Harness) -> None:
    h.csv("date=2013-01-01/a.csv", [(1, "a")])
    _, first, _ = h.read("raw", state={})
    committed = {"raw": first["position"]}
    h.csv("date=2013-01-02/b.csv", [(2, "b")])
    rows_failed, failed, _ = h.read("raw", state=committed)  # this run fails after reading
    h.csv("date=2013-01-03/c.csv", [(3, "c")])  # arrives before the resume
    rows, resumed, _ = h.read("raw", state=committed, resume={"raw": failed})
    assert rows == rows_failed == [(2, "b", dt.date(2013, 1, 2))]
    assert resumed["position"] == failed["position"]
    assert resumed["snapshot"]["files"] == failed["snapshot"]["files"]
    # a fresh run (no resume) would have taken c.csv as well
    fresh, _, _ = h.read("raw", state=committed)
    assert [r[0] for r in fresh] == [2, 3]


def test_resume_refuses_when_a_read_file_is_gone(h: Harness) -> None:
    path = h.csv("a.csv", [(1, "a")])
    _, failed, _ = h.read("raw", state={})
    path.unlink()
    h.csv("b.csv", [(2, "b")])
    with pytest.raises(StateError, match="file\\(s\\) the failed run read are gone"):
        h.read("raw", state={}, resume={"raw": failed})


def test_explore_without_state_reads_everything_and_still_proposes(h: Harness) -> None:
    h.csv("a.csv", [(1, "a")])
    ctx = h.context(mode="explore")
    df = read_incremental(ctx, "raw")
    assert df.count() == 1
    (prop,) = events.of_kind(ctx.log.read(), events.STATE_PROPOSAL)
    assert list(prop["position"]["files"]) == ["a.csv"]


def test_a_contracted_dataset_is_enforced_and_quarantined_in_prod(
    tmp_path: Path, spark: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = _contracted(tmp_path, spark, monkeypatch)
    h.csv("date=2013-01-01/a.csv", [(1, "x")])
    _, first, _ = h.read("strict", state={})
    path = h.root / "landing" / "raw" / "date=2013-01-02" / "b.csv"
    path.parent.mkdir(parents=True)
    path.write_text("id,name\n2,y\nnot-a-number,z\n")
    rows, prop, _ = h.read("strict", state={"strict": first["position"]})
    assert rows == [(2, "y", dt.date(2013, 1, 2))]  # only the new file, contract types
    assert prop["rows"] == 2 and [f["path"] for f in prop["snapshot"]["files"]] == ["date=2013-01-02/b.csv"]
    ctx_dir = h.root / "runs" / "p" / f"run{h.runs}"
    (read,) = events.of_kind(events.EventLog.in_run_dir(ctx_dir, source="test").read(), events.DATASET_READ)
    assert read["incremental"] == "files" and read["schema_version"] == "1.0"
    assert (read["rows"], read["accepted_rows"], read["rejected_rows"]) == (2, 1, 1)
    rejected = spark.read.parquet(str(ctx_dir / "staging" / "strict__rejected")).collect()
    assert [(r["_nbpipe_raw"], r["_nbpipe_reason"]) for r in rejected] == [
        ("not-a-number,z", "column id: 'not-a-number' is not bigint")]


def _contracted(tmp_path: Path, spark: Any, monkeypatch: pytest.MonkeyPatch) -> Harness:
    h = Harness(tmp_path, spark, monkeypatch, strict={"path": "landing/raw", "format": "csv",
                                                      "options": {"header": "true"}})
    contract = {"dataset": "strict", "version": "1.0", "columns": [
        {"name": "id", "type": "bigint", "nullable": False}, {"name": "name", "type": "string"},
        {"name": "date", "type": "date"}]}
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "strict.yaml").write_text(yaml.safe_dump(contract, sort_keys=False))
    return h


@pytest.mark.parametrize("mode", ["prod", "explore"])
def test_nothing_new_in_a_contracted_dataset_keeps_the_contract_schema(
    tmp_path: Path, spark: Any, monkeypatch: pytest.MonkeyPatch, mode: Mode
) -> None:
    """A recovery run after a roll-forward, or a --force rerun, finds nothing new: same types as a full batch."""
    h = _contracted(tmp_path, spark, monkeypatch)
    h.csv("date=2013-01-01/a.csv", [(1, "x")])
    _, first, df = h.read("strict", state={})
    assert [(f.name, f.dataType.simpleString()) for f in df.schema.fields] == [
        ("id", "bigint"), ("name", "string"), ("date", "date")]
    ctx = h.context(mode)
    state_file = ctx.run_dir / "state_in.json"
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps({"strict": first["position"]}))
    monkeypatch.setenv(ENV_STATE, str(state_file))
    empty = read_incremental(ctx, "strict")
    assert empty.collect() == [] and empty.schema == df.schema
    (prop,) = events.of_kind(ctx.log.read(), events.STATE_PROPOSAL)
    assert prop["rows"] == 0 and prop["position"] == first["position"]


def _backfill_read(h: Harness, name: str, day: str, state: dict, **kw: Any) -> tuple[list, list, Any]:
    """One incremental read in a backfill run of ``day``: (rows, the run's events, df)."""
    ctx = h.context()
    path = ctx.run_dir / "state_in.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state))
    h.mp.setenv(ENV_STATE, str(path))
    h.mp.setenv(ENV_BACKFILL_DAY, day)
    try:
        df = read_incremental(ctx, name, **kw)
    finally:
        h.mp.delenv(ENV_BACKFILL_DAY)
    return sorted(tuple(r) for r in df.collect()), ctx.log.read(), df


def test_a_backfill_day_rereads_its_partition_and_proposes_nothing(
    tmp_path: Path, spark: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = _contracted(tmp_path, spark, monkeypatch)
    h.csv("date=2013-01-01/a.csv", [(1, "x"), (2, "y")])
    h.csv("date=2013-01-01/late.csv", [(3, "late")])
    h.csv("date=2013-01-02/b.csv", [(4, "z")])
    _, first, _ = h.read("strict", state={})
    committed = {"strict": first["position"]}  # every file was read and committed
    rows, log, _ = _backfill_read(h, "strict", "2013-01-01", committed)
    d1 = dt.date(2013, 1, 1)
    assert rows == [(1, "x", d1), (2, "y", d1), (3, "late", d1)]
    assert events.of_kind(log, events.STATE_PROPOSAL) == [], "the committed position does not move"
    (read,) = events.of_kind(log, events.DATASET_READ)
    assert read["rows"] == 3 and read["incremental"] == "files"
    rows, log, df = _backfill_read(h, "strict", "2013-01-05", committed)  # a day without files
    assert rows == [] and [f.name for f in df.schema.fields] == ["id", "name", "date"]


def test_a_backfill_refuses_reads_that_have_no_day(h: Harness) -> None:
    h.csv("a.csv", [(1, "x")])  # not partitioned by day
    with pytest.raises(DatasetError, match="has no partition directories"):
        _backfill_read(h, "raw", "2013-01-01", {})
    h.orders("o1", [(1, dt.datetime(2024, 1, 1, tzinfo=UTC), 1.0)])
    with pytest.raises(StateError, match="reads dataset 'orders' by watermark") as info:
        _backfill_read(h, "orders", "2013-01-01", {}, column="updated_at")
    assert "nbpipe run p" in (info.value.hint or "")


def test_a_symlink_in_the_landing_zone_is_refused_unless_allowed(
    tmp_path: Path, spark: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path.parent / f"outside-{uuid.uuid4().hex[:6]}"
    outside.mkdir()
    (outside / "passwd.csv").write_text("id,name\n0,root\n")
    linked = {"path": "landing/raw", "format": "csv", "options": {"header": "true"}}
    h = Harness(tmp_path, spark, monkeypatch, linked=linked, allowed={**linked, "follow_symlinks": True})
    h.csv("a.csv", [(1, "x")])
    link = tmp_path / "landing" / "raw" / "b.csv"
    os.symlink(outside / "passwd.csv", link)
    with pytest.raises(DatasetError) as info:
        h.read("linked", state={})
    assert f"{link} is a symbolic link (to {outside / 'passwd.csv'})" in info.value.message
    assert "datasets.linked.follow_symlinks: true" in (info.value.hint or "")
    rows, prop, _ = h.read("allowed", state={})
    assert rows == [("0", "root"), ("1", "x")] and sorted(prop["position"]["files"]) == ["a.csv", "b.csv"]


@pytest.mark.parametrize("header", ["id,name", "id, name", "id,id", '"id";"name"'])
def test_headed_text_csv_reads_like_spark_reads_the_header(
    tmp_path: Path, spark: Any, monkeypatch: pytest.MonkeyPatch, header: str
) -> None:
    """The header is read in Python (no Spark job) only where Spark would name the columns the same."""
    sep = ";" if ";" in header else ","
    h = Harness(tmp_path, spark, monkeypatch, text={"path": "landing/raw", "format": "csv",
                                                    "options": {"header": "true", "sep": sep}})
    for day, body in (("01", f"1{sep}x\n"), ("02", f"2{sep}y\n")):
        path = tmp_path / "landing" / "raw" / f"date=2013-01-{day}" / "a.csv"
        path.parent.mkdir(parents=True)
        path.write_text(f"{header}\n{body}")
    rows, prop, df = h.read("text", state={})
    landing = str(tmp_path / "landing" / "raw")
    expected = spark.read.options(header="true", sep=sep, basePath=landing).csv(landing)
    assert df.schema == expected.schema  # names, string columns, the typed partition column
    assert rows == sorted(tuple(r) for r in expected.collect()) and prop["rows"] == 2


def test_file_read_errors_say_what_to_fix(h: Harness) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        h.read("raw", state={})
    with pytest.raises(DatasetError, match="pass column="):
        h.read("table", state={})
    with pytest.raises(DatasetError, match="did you mean 'raw'"):
        h.read("rwa", state={})
    h.csv("a.csv", [(1, "a")])
    with pytest.raises(StateError, match="'watermark' position but this read is 'files'"):
        h.read("raw", state={"raw": {"kind": "watermark", "column": "id", "high": 1}})


# --------------------------------------------------------------------------- watermark

T0 = dt.datetime(2013, 1, 1, tzinfo=UTC)


def hours(n: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=n)


def test_watermark_first_run_then_only_newer_rows(h: Harness) -> None:
    h.orders("p1", [(1, hours(1), 10.0), (2, hours(2), 20.0)])
    rows, prop, _ = h.read("orders", state={}, column="updated_at")
    assert [r[0] for r in rows] == [1, 2]
    assert prop["incremental"] == "watermark"
    assert prop["position"] == {"kind": "watermark", "column": "updated_at", "type": "timestamp",
                                "high": "2013-01-01T02:00:00+00:00"}
    assert prop["snapshot"]["low"] is None and prop["snapshot"]["high"] == "2013-01-01T02:00:00+00:00"
    h.orders("p2", [(3, hours(3), 30.0), (4, hours(1.5), 40.0)])  # id 4 is late: below the high
    rows2, prop2, _ = h.read("orders", state={"orders": prop["position"]}, column="updated_at")
    assert [r[0] for r in rows2] == [3]  # without lookback the late row is missed ...
    assert prop2["position"]["high"] == "2013-01-01T03:00:00+00:00"
    rows3, prop3, _ = h.read("orders", state={"orders": prop2["position"]}, column="updated_at")
    assert rows3 == [] and prop3["position"] == prop2["position"]


def test_lookback_rereads_and_deduplicates_by_primary_key(h: Harness) -> None:
    h.orders("p1", [(1, hours(1), 10.0), (2, hours(2), 20.0)])
    _, prop, _ = h.read("orders", state={}, column="updated_at")
    # id 2 updated twice, id 4 late within the lookback, id 5 too old for the lookback
    h.orders("p2", [(2, hours(3), 21.0), (2, hours(4), 22.0), (4, hours(1.5), 40.0), (5, hours(-5), 50.0)])
    rows, prop2, _ = h.read("orders", state={"orders": prop["position"]}, column="updated_at", lookback="1h")
    assert rows == [(2, hours(4).replace(tzinfo=None), 22.0), (4, hours(1.5).replace(tzinfo=None), 40.0)]
    assert prop2["snapshot"]["low"] == "2013-01-01T01:00:00+00:00"
    assert prop2["rows"] == 4  # rows in (low, high] before de-duplication: 2@2h, 2@3h, 2@4h, 4@1.5h
    assert prop2["position"]["high"] == "2013-01-01T04:00:00+00:00"
    # same data without a primary key: duplicates stay and a warning says how to fix it
    rows_nokey, prop_nokey, _ = h.read("nokey", state={"nokey": prop["position"]}, column="updated_at",
                                       lookback=dt.timedelta(hours=1))
    assert [r[0] for r in rows_nokey] == [2, 2, 2, 4]
    assert any("primary_key" in w for w in prop_nokey["warnings"])


def test_dedup_is_deterministic_on_ties(h: Harness) -> None:
    h.orders("p1", [(1, hours(1), 10.0), (1, hours(1), 30.0), (1, hours(1), 20.0)])
    results = {tuple(h.read("orders", state={}, column="updated_at")[0]) for _ in range(2)}
    assert results == {((1, hours(1).replace(tzinfo=None), 30.0),)}


def test_watermark_resume_reads_the_same_range(h: Harness) -> None:
    h.orders("p1", [(1, hours(1), 10.0)])
    _, first, _ = h.read("orders", state={}, column="updated_at")
    committed = {"orders": first["position"]}
    h.orders("p2", [(2, hours(2), 20.0)])
    rows_failed, failed, _ = h.read("orders", state=committed, column="updated_at")
    h.orders("p3", [(3, hours(3), 30.0)])  # arrives before the resume
    rows, resumed, _ = h.read("orders", state=committed, resume={"orders": failed}, column="updated_at")
    assert rows == rows_failed and [r[0] for r in rows] == [2]
    assert resumed["position"] == failed["position"] and resumed["snapshot"] == failed["snapshot"]


def test_watermark_filter_is_pushed_to_the_source(h: Harness) -> None:
    h.orders("p1", [(1, hours(1), 10.0), (2, hours(2), 20.0)])
    state = {"orders": {"kind": "watermark", "column": "updated_at", "type": "timestamp",
                        "high": "2013-01-01T01:00:00+00:00"}}
    _, _, df = h.read("orders", state=state, column="updated_at")
    plan = df._jdf.queryExecution().executedPlan().toString()
    assert "PushedFilters" in plan and "GreaterThan(updated_at" in plan, plan


def test_numeric_watermark_with_numeric_lookback(h: Harness) -> None:
    h.orders("p1", [(1, hours(1), 10.0), (5, hours(1), 50.0)])
    _, prop, _ = h.read("nokey", state={}, column="id")
    assert prop["position"]["high"] == 5 and prop["position"]["type"] == "number"
    h.orders("p2", [(4, hours(1), 40.0), (7, hours(1), 70.0)])
    rows, prop2, _ = h.read("nokey", state={"nokey": prop["position"]}, column="id", lookback=2)
    assert [r[0] for r in rows] == [4, 5, 7]
    with pytest.raises(StateError, match="give a number"):
        h.read("nokey", state={"nokey": prop2["position"]}, column="id", lookback="2 days")


def test_watermark_errors_say_what_to_fix(h: Harness) -> None:
    h.orders("p1", [(1, hours(1), 10.0)])
    with pytest.raises(DatasetError, match="did you mean 'updated_at'"):
        h.read("orders", state={}, column="updated_ta")
    with pytest.raises(StateError, match="pass column='updated_at'"):
        h.read("orders", state={"orders": {"kind": "watermark", "column": "updated_at", "type": "timestamp",
                                           "high": None}}, column="id")
    committed = {"kind": "watermark", "column": "updated_at", "type": "timestamp",
                 "high": "2013-01-01T00:00:00+00:00"}
    with pytest.raises(StateError, match="give a duration"):
        h.read("orders", state={"orders": committed}, column="updated_at", lookback=3)


def test_primary_key_from_the_contract(h: Harness) -> None:
    contract = {
        "dataset": "by_contract", "version": "1.0",
        "columns": [{"name": "id", "type": "bigint", "nullable": False},
                    {"name": "updated_at", "type": "timestamp", "nullable": True},
                    {"name": "amount", "type": "double", "nullable": True}],
        "partition_by": [], "primary_key": ["id"],
    }
    (h.root / "contracts").mkdir()
    (h.root / "contracts" / "orders.yaml").write_text(yaml.safe_dump(contract, sort_keys=False))
    h.orders("p1", [(1, hours(1), 10.0), (1, hours(2), 11.0), (2, hours(1), 20.0)])
    rows, prop, _ = h.read("by_contract", state={}, column="updated_at")
    assert [(r[0], r[2]) for r in rows] == [(1, 11.0), (2, 20.0)]
    assert prop["snapshot"]["primary_key"] == ["id"] and prop["rows"] == 3


@pytest.mark.postgres
def test_jdbc_watermark_filter_is_pushed_down_to_postgres(
    tmp_path: Path, spark: Any, monkeypatch: pytest.MonkeyPatch, pg_database: Callable[[], str]
) -> None:
    jar = jdbc_jar()
    import psycopg

    url = pg_database()  # postgresql+psycopg://postgres@127.0.0.1:PORT/DB
    netloc, db = url.split("@", 1)[1].split("/", 1)
    with psycopg.connect(f"postgresql://postgres@{netloc}/{db}", autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id int, updated_at timestamp, v text)")
        conn.execute("INSERT INTO orders VALUES (1, '2013-01-01 01:00', 'a'), (2, '2013-01-01 02:00', 'b'), "
                     "(2, '2013-01-01 03:00', 'b2'), (3, '2013-01-01 00:30', 'old')")
    spark.sql(f"ADD JAR {jar}")
    jdbc = {"format": "jdbc", "primary_key": ["id"], "options": {
        "url": f"jdbc:postgresql://{netloc}/{db}?user=postgres", "dbtable": "orders",
        "driver": "org.postgresql.Driver"}}
    root = tmp_path / uuid.uuid4().hex[:6]
    root.mkdir()
    h = Harness(root, spark, monkeypatch, pg_orders=jdbc)
    committed = {"kind": "watermark", "column": "updated_at", "type": "timestamp",
                 "high": "2013-01-01T01:30:00+00:00"}
    rows, prop, df = h.read("pg_orders", state={"pg_orders": committed}, column="updated_at")
    assert [(r[0], r[2]) for r in rows] == [(2, "b2")]
    assert prop["rows"] == 2 and prop["position"]["high"] == "2013-01-01T03:00:00+00:00"
    plan = df._jdf.queryExecution().executedPlan().toString()
    assert "JDBCRelation" in plan and "*GreaterThan(updated_at,2013-01-01 01:30:00" in plan, plan
