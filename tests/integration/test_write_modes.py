"""Write modes and the primary key on real Spark: late data merges, nothing is lost unless asked for.

A late file for a published date, written with the default mode, used to replace that date's
partition (the published rows were lost without a word). Now the default merges by primary key
(or appends without one), each touched partition is staged whole, reruns are idempotent, and rows
that break the key are quarantined (or fail the write, per ``on_bad_rows``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import pytest

from nbpipe.core import events
from nbpipe.data.write import write_dataset
from nbpipe.errors import BadRowsError, ConfigError
from nbpipe.run.publish import publish
from tests.support.projects import ProjectForTest
from tests.support.scope import ScopeForTest

pytestmark = pytest.mark.spark

SCHEMA = "flight_date date, carrier string, flight int, dep_delay bigint"
FIELDS = [
    {"name": "flight_date", "type": "date", "nullable": False},
    {"name": "carrier", "type": "string", "nullable": False},
    {"name": "flight", "type": "int", "nullable": False},
    {"name": "dep_delay", "type": "bigint"},
]
KEY = ["flight_date", "carrier", "flight"]
DAY1 = [("2013-01-01", "AA", 1, 5), ("2013-01-01", "UA", 2, -3), ("2013-01-01", "DL", 3, 0)]


class Flights(ProjectForTest):
    def __init__(self, root: Path, spark: Any, small_frame_rows: int = 100_000) -> None:
        super().__init__(root, spark=spark, project="t", profiles={
            "dev": {"spark": {"small_frame_rows": small_frame_rows}}}, datasets={
            "flights": {"format": "parquet", "partition_by": ["flight_date"]},   # key from the contract
            "strict_flights": {"format": "parquet", "partition_by": ["flight_date"], "on_bad_rows": "fail"},
            "events": {"format": "parquet", "partition_by": ["flight_date"]},    # no key: append
            "merged_events": {"format": "parquet", "write_mode": "merge"},      # merge without a key
        }, pipelines={"ingest": {"notebook": "notebooks/ingest.ipynb"}})
        for name in ("flights", "strict_flights"):
            self.contract(name, FIELDS, partition_by=["flight_date"], primary_key=KEY)

    def df(self, rows: list[tuple[Any, ...]]) -> Any:
        return self.spark.createDataFrame(
            [(dt.date.fromisoformat(r[0]), *r[1:]) for r in rows], SCHEMA)

    def run(self, run_id: str, *writes: tuple[str, list[tuple[Any, ...]], str | None],
            mode: str = "prod") -> ScopeForTest:
        """One run: each write ``(dataset, rows, write mode)``, then publish (prod)."""
        ctx = self.scope(run_id, mode=mode)  # type: ignore[arg-type]
        for name, rows, how in writes:
            write_dataset(ctx, self.df(rows), name, mode=how)
        expected = "local" if self.project.profile.spark.small_frame_rows else "spark"
        assert {e["engine"]["path"] for e in ctx.events(events.DATASET_STAGED)} <= {expected}
        if mode == "prod":
            publish(self.project, ctx.run_dir, ctx.events(events.DATASET_STAGED) + ctx.events(events.DATASET_REJECTED))
        return ctx

    def rows(self, name: str, root: Path | None = None) -> list[tuple[Any, ...]]:
        df = self.spark.read.parquet(str(root or self.warehouse / name))
        return sorted((str(r.flight_date), r.carrier, r.flight, r.dep_delay) for r in df.collect())


def data_files(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*.parquet"))}


@pytest.fixture(params=["local", "spark"])
def proj(request: pytest.FixtureRequest, tmp_path: Path, spark: Any) -> Flights:
    """Every case on both paths: in-process on the materialized frame, and Spark jobs (threshold 0)."""
    from nbpipe.data import small

    small.forget_all()
    return Flights(tmp_path, spark, small_frame_rows=100_000 if request.param == "local" else 0)


def test_late_file_merges_into_the_published_partition_and_reruns_are_idempotent(proj: Flights) -> None:
    proj.run("r1", ("flights", DAY1, None))
    late = [("2013-01-01", "B6", 4, 9), ("2013-01-01", "AA", 1, 6)]  # a new flight, and AA 1 corrected
    ctx = proj.run("r2", ("flights", late, None))
    (event,) = ctx.events(events.DATASET_STAGED)
    assert event["mode"] == "merge" and event["primary_key"] == KEY and event["rows"] == 4
    merged = [("2013-01-01", "AA", 1, 6), ("2013-01-01", "B6", 4, 9), ("2013-01-01", "DL", 3, 0),
              ("2013-01-01", "UA", 2, -3)]
    assert proj.rows("flights") == merged, "no published row lost; the late row replaced its key"
    before = data_files(proj.warehouse / "flights")
    proj.run("r3", ("flights", late, None))  # the same late file again (e.g. a --force rerun)
    assert data_files(proj.warehouse / "flights") == before
    proj.run("r4", ("flights", late, "overwrite_partitions"))  # replacing is still possible, when asked for
    assert proj.rows("flights") == sorted(late)


def test_append_without_a_key_keeps_identical_rows_once(proj: Flights) -> None:
    proj.run("r1", ("events", DAY1[:2], None))
    ctx = proj.run("r2", ("events", [*DAY1[1:], DAY1[2]], None))
    assert ctx.events(events.DATASET_STAGED)[0]["mode"] == "append"
    assert proj.rows("events") == sorted(DAY1)
    before = data_files(proj.warehouse / "events")
    proj.run("r3", ("events", DAY1[1:], None))
    assert data_files(proj.warehouse / "events") == before


def test_two_writes_in_one_run_merge_with_what_the_run_staged(proj: Flights) -> None:
    proj.run("r1", ("flights", DAY1[:1], None))
    proj.run("r2", ("flights", DAY1[1:2], None), ("flights", DAY1[2:], None))
    assert proj.rows("flights") == sorted(DAY1)


def test_merge_without_a_primary_key_is_a_config_error(proj: Flights) -> None:
    ctx = proj.scope("r1")
    with pytest.raises(ConfigError, match=r"mode='merge'\) needs a primary key") as exc:
        write_dataset(ctx, proj.df(DAY1), "events", mode="merge")
    assert exc.value.exit_code == 2 and "datasets.events.primary_key" in (exc.value.hint or "")
    with pytest.raises(ConfigError, match=r"datasets\.merged_events\.write_mode: merge needs a primary key"):
        write_dataset(ctx, proj.df(DAY1), "merged_events")
    assert not ctx.staging_dir.exists() or not any(ctx.staging_dir.iterdir())


def test_duplicate_keys_are_quarantined_with_the_reason(proj: Flights) -> None:
    clash = [("2013-01-01", "AA", 1, 5), ("2013-01-01", "AA", 1, 7)]  # one key, two different rows
    twice = [("2013-01-01", "UA", 2, -3), ("2013-01-01", "UA", 2, -3)]  # the same row delivered twice
    ctx = proj.scope("r1")
    result = write_dataset(ctx, proj.df([*clash, *twice]), "flights")
    assert result.rows == 1 and result.rejected_rows == 2
    (rejected,) = ctx.events(events.DATASET_REJECTED)
    assert rejected["dataset"] == "flights__rejected" and rejected["rows"] == 2
    reason = "duplicate primary key (flight_date, carrier, flight): 2 rows in this write share it with different values"
    assert rejected["reasons"] == {reason: 2}
    publish(proj.project, ctx.run_dir, ctx.events(events.DATASET_STAGED) + ctx.events(events.DATASET_REJECTED))
    assert proj.rows("flights") == [("2013-01-01", "UA", 2, -3)]
    quarantined = proj.spark.read.parquet(str(proj.warehouse / "flights__rejected")).collect()
    assert sorted(r.dep_delay for r in quarantined) == ["5", "7"]


def test_duplicate_keys_fail_the_write_when_on_bad_rows_is_fail(proj: Flights) -> None:
    ctx = proj.scope("r1")
    with pytest.raises(BadRowsError, match=r"2 row\(s\) break the primary key \(flight_date, carrier, flight\)") as exc:
        write_dataset(ctx, proj.df([("2013-01-01", "AA", 1, 5), ("2013-01-01", "AA", 1, 7)]), "strict_flights")
    assert exc.value.exit_code == 8 and "on_bad_rows: quarantine" in (exc.value.hint or "")
    assert not (ctx.staging_dir / "strict_flights").exists() and ctx.events(events.DATASET_STAGED) == []


def test_append_with_a_key_rejects_rows_whose_key_is_already_stored(proj: Flights) -> None:
    proj.run("r1", ("flights", DAY1, None))
    ctx = proj.run("r2", ("flights", [("2013-01-01", "AA", 1, 99), ("2013-01-01", "EV", 7, 1)], "append"))
    assert proj.rows("flights") == sorted([*DAY1, ("2013-01-01", "EV", 7, 1)]), "the stored row stays"
    (rejected,) = ctx.events(events.DATASET_REJECTED)
    assert list(rejected["reasons"]) == ["duplicate primary key (flight_date, carrier, flight): "
                                         "already stored with different values (write mode append)"]


def test_explore_writes_merge_into_the_sandbox(proj: Flights) -> None:
    proj.run("s1", ("flights", DAY1[:2], None), mode="explore")
    proj.run("s2", ("flights", [("2013-01-01", "AA", 1, 50)], None), mode="explore")
    assert proj.rows("flights", proj.warehouse / "_explore" / "flights") == [
        ("2013-01-01", "AA", 1, 50), ("2013-01-01", "UA", 2, -3)]
    assert not (proj.warehouse / "flights").exists()
