"""Staged, contract-checked writes and the atomic, idempotent publish, on real Spark and real filesystems."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from nbpipe.core import events
from nbpipe.core.layout import publish_work_dir
from nbpipe.core.manifest import MANIFEST
from nbpipe.data.write import write_dataset, write_rejected
from nbpipe.errors import ContractViolationError, DatasetError
from nbpipe.run.publish import discard_staging, gc_staging, publish
from tests.support.projects import ProjectForTest, load
from tests.support.scope import ScopeForTest

pytestmark = pytest.mark.spark

CONTRACT = [
    {"name": "flight_date", "type": "date", "nullable": False},
    {"name": "carrier", "type": "string", "nullable": False},
    {"name": "flight", "type": "int"},
    {"name": "dep_delay", "type": "bigint"},
]
SCHEMA = "flight_date date, carrier string, flight int, dep_delay bigint"


class Flights(ProjectForTest):
    """A project with a partitioned ``flights`` (parquet and CSV) and an unpartitioned ``carriers``, contracted."""

    def __init__(self, root: Path, spark: Any) -> None:
        super().__init__(root, spark=spark, project="t", datasets={
            "flights": {"format": "parquet", "partition_by": ["flight_date"]},
            "carriers": {"format": "parquet"},
            "flights_csv": {"format": "csv", "partition_by": ["flight_date"]},
        }, pipelines={"ingest": {"notebook": "notebooks/ingest.ipynb"}})
        for name in ("flights", "flights_csv"):
            self.contract(name, CONTRACT, version="2.1", partition_by=["flight_date"])
        self.contract("carriers", [{"name": "code", "type": "string", "nullable": False}])

    def df(self, rows: list[tuple[Any, ...]], schema: str = SCHEMA) -> Any:
        """A frame of ``rows``; ISO date strings (``"2013-…"``) become dates."""
        import datetime as dt

        fixed = [tuple(dt.date.fromisoformat(v) if isinstance(v, str) and v[:2] == "20" else v for v in r)
                 for r in rows]
        return self.spark.createDataFrame(fixed, schema)


def staged_events(ctx: ScopeForTest) -> list[dict[str, Any]]:
    """What the run staged for publishing: its staged and rejected datasets."""
    return ctx.events(events.DATASET_STAGED) + ctx.events(events.DATASET_REJECTED)


@pytest.fixture
def proj(tmp_path: Path, spark: Any) -> Flights:
    return Flights(tmp_path, spark)


def tree(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under root (markers included)."""
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def data_files(root: Path) -> dict[str, str]:
    return {k: v for k, v in tree(root).items() if not k.rsplit("/", 1)[-1].startswith("_")}


DAY1 = [("2013-01-01", "AA", 1, 5), ("2013-01-01", "UA", 2, -3)]
DAY2 = [("2013-01-02", "DL", 3, 0), ("2013-01-02", "AA", 4, 12)]


def test_prod_write_stages_deterministic_files_and_reruns_are_byte_identical(proj: Flights) -> None:
    first = proj.scope("r1")
    result = write_dataset(first, proj.df(DAY2 + DAY1), "flights")
    staging = first.staging_dir / "flights"
    assert result.rows == 4 and result.partitions == ["flight_date=2013-01-01", "flight_date=2013-01-02"]
    assert result.schema_version == "2.1" and not result.sandbox and result.path == str(staging)
    assert sorted(tree(staging)) == [
        "flight_date=2013-01-01/_nbpipe_run.marker", "flight_date=2013-01-01/part-00000.parquet",
        "flight_date=2013-01-02/_nbpipe_run.marker", "flight_date=2013-01-02/part-00000.parquet",
    ], "no _SUCCESS, no .crc, deterministic names"
    (event,) = events.of_kind(first.log.read(), events.DATASET_STAGED)
    assert event["staging_path"] == str(staging) and event["rows"] == 4 and event["format"] == "parquet"
    assert event["partition_by"] == ["flight_date"] and event["bytes"] == result.bytes > 0
    assert [f["name"] for f in event["schema"]] == ["flight_date", "carrier", "flight", "dep_delay"]
    # Same input in another order, another run: byte-identical data files.
    second = proj.scope("r2")
    write_dataset(second, proj.df(list(reversed(DAY1 + DAY2))).repartition(3), "flights")
    assert data_files(second.staging_dir / "flights") == data_files(staging)
    assert not proj.warehouse.joinpath("flights").exists(), "staging is not publishing"


@pytest.mark.parametrize(
    ("frame", "needles"),
    [
        ("flight_date date, carrier string, flight int", ["column dep_delay: missing (contract expects bigint)"]),
        (SCHEMA + ", tailnum string", ["column tailnum: not in the contract (frame has string)"]),
        ("flight_date date, carrier string, flight string, dep_delay bigint",
         ["column flight: expected int, got string"]),
    ],
    ids=["missing", "extra", "retyped"],
)
def test_write_contract_violation_names_column_types_and_promote(proj: Flights, frame: str, needles: list[str]) -> None:
    publish(proj.project, proj.scope("r0").run_dir, [])  # nothing staged, nothing published
    ctx = proj.scope("r1")
    cols = frame.count(",") + 1
    row = ("2013-01-01", "AA", 1, 5, "N1")[:cols]
    if "flight string" in frame:
        row = ("2013-01-01", "AA", "1", 5)
    with pytest.raises(ContractViolationError) as exc:
        write_dataset(ctx, proj.df([row], frame), "flights")
    msg = str(exc.value)
    assert all(n in msg for n in needles), msg
    assert "contract v2.1" in msg and "nbpipe promote notebooks/ingest.ipynb" in msg
    assert not (ctx.staging_dir / "flights").exists()
    assert events.of_kind(ctx.log.read(), events.DATASET_STAGED) == []


def test_nulls_in_non_null_column_refuse_the_write(proj: Flights) -> None:
    ctx = proj.scope("r1")
    with pytest.raises(ContractViolationError, match=r"column carrier: 1 null value\(s\) in non-null column"):
        write_dataset(ctx, proj.df([("2013-01-01", None, 1, 5), ("2013-01-01", "AA", 1, 5)]), "flights")
    assert not (ctx.staging_dir / "flights").exists() and not list(ctx.staging_dir.glob("tmp-*"))


def test_counts_come_from_the_written_files_null_partition_values_included(proj: Flights) -> None:
    """Parquet writes are verified from the footers: exact rows; a null partition value is refused."""
    ctx = proj.scope("r1")
    result = write_dataset(ctx, proj.df([("2013-01-01", "AA", 1, 5), ("2013-01-02", "UA", 2, None)]), "flights")
    assert result.rows == 2 == proj.spark.read.parquet(result.path).count()
    with pytest.raises(ContractViolationError, match=r"column flight_date: 1 null value\(s\) in non-null column"):
        write_dataset(ctx, proj.df([(None, "AA", 1, 5), ("2013-01-01", "AA", 1, 5)]), "flights")
    assert sorted(p.name for p in (ctx.staging_dir / "flights").iterdir() if not p.name.startswith(".")) == [
        "flight_date=2013-01-01", "flight_date=2013-01-02"]  # the refused write left nothing behind


def test_lossless_widening_is_cast_and_bad_mode_refused(proj: Flights) -> None:
    ctx = proj.scope("r1")
    result = write_dataset(ctx, proj.df(DAY1, "flight_date date, carrier string, flight smallint, dep_delay int"),
                           "flights")
    back = proj.spark.read.parquet(result.path)
    assert dict(back.dtypes)["dep_delay"] == "bigint" and dict(back.dtypes)["flight"] == "int"
    with pytest.raises(DatasetError, match="did you mean 'overwrite'"):
        write_dataset(ctx, proj.df(DAY1), "flights", mode="overwrit")


def test_publish_replaces_only_staged_partitions_atomically_and_idempotently(proj: Flights) -> None:
    r1 = proj.scope("r1")
    write_dataset(r1, proj.df(DAY1 + DAY2), "flights")
    first = publish(proj.project, r1.run_dir, staged_events(r1))
    live = proj.warehouse / "flights"
    assert first[0]["partitions"] == ["flight_date=2013-01-01", "flight_date=2013-01-02"]
    assert first[0]["rows"] == 4
    day1_before = tree(live / "flight_date=2013-01-01")
    inode_day1 = (live / "flight_date=2013-01-01").stat().st_ino
    # Run 2 rewrites day 2 and adds day 3; day 1 must stay untouched.
    r2 = proj.scope("r2")
    write_dataset(r2, proj.df([("2013-01-02", "B6", 9, 1), ("2013-01-03", "EV", 7, 2)]), "flights",
                  mode="overwrite_partitions")
    staged = staged_events(r2)
    second = publish(proj.project, r2.run_dir, staged)
    assert second[0]["partitions"] == ["flight_date=2013-01-02", "flight_date=2013-01-03"]
    assert tree(live / "flight_date=2013-01-01") == day1_before
    assert (live / "flight_date=2013-01-01").stat().st_ino == inode_day1
    got = sorted((str(r.flight_date), r.carrier) for r in proj.spark.read.parquet(str(live)).collect())
    assert got == [("2013-01-01", "AA"), ("2013-01-01", "UA"), ("2013-01-02", "B6"), ("2013-01-03", "EV")]
    assert json.loads((live / "flight_date=2013-01-02" / "_nbpipe_run.marker").read_text())["run_id"] == "r2"
    after = tree(live)
    # Crash recovery calls publish again with the same events: same result, same files.
    assert publish(proj.project, r2.run_dir, staged) == second
    assert tree(live) == after
    assert not publish_work_dir(live, "r2").exists() and not list(proj.warehouse.glob(".*"))


def test_interrupted_publish_rolls_forward(proj: Flights) -> None:
    r1 = proj.scope("r1")
    write_dataset(r1, proj.df(DAY1 + DAY2), "flights")
    publish(proj.project, r1.run_dir, staged_events(r1))
    live = proj.warehouse / "flights"
    r2 = proj.scope("r2")
    write_dataset(r2, proj.df([("2013-01-01", "WN", 1, 1), ("2013-01-02", "US", 2, 2)]), "flights",
                  mode="overwrite_partitions")
    staged = staged_events(r2)
    expected = tree(r2.staging_dir / "flights")
    work = publish_work_dir(live, "r2")
    # Simulate a runner killed mid-publish: day 1 moved to incoming only; day 2 swapped, old data not yet trashed.
    (work / "incoming").mkdir(parents=True)
    os.rename(r2.staging_dir / "flights" / "flight_date=2013-01-01", work / "incoming" / "flight_date=2013-01-01")
    os.rename(live / "flight_date=2013-01-02", work / "incoming" / "flight_date=2013-01-02")
    os.rename(r2.staging_dir / "flights" / "flight_date=2013-01-02", live / "flight_date=2013-01-02")
    result = publish(proj.project, r2.run_dir, staged)
    assert result[0]["rows"] == 2
    assert {k: v for k, v in tree(live).items() if k != MANIFEST} == expected
    committed = json.loads((live / MANIFEST).read_text())
    assert (committed["version"], committed["run_id"]) == (2, "r2")
    assert {u["run_id"] for u in committed["units"].values()} == {"r2"}
    assert not work.exists() and not list(live.glob("*/.nbpipe_prev"))


def test_cross_device_staging_is_copied_then_swapped(proj: Flights) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(proj.root).st_dev:
        pytest.skip("needs /dev/shm on another filesystem than the test directory")
    runs = Path(tempfile.mkdtemp(prefix="nbpipe-runs-", dir=shm))
    try:
        ctx = proj.scope("r1", runs=runs)
        write_dataset(ctx, proj.df(DAY1), "flights")
        expected = tree(ctx.staging_dir / "flights")
        result = publish(proj.project, ctx.run_dir, staged_events(ctx))
        assert result[0]["partitions"] == ["flight_date=2013-01-01"]
        assert {k: v for k, v in tree(proj.warehouse / "flights").items() if k != MANIFEST} == expected
        assert not (ctx.staging_dir / "flights" / "flight_date=2013-01-01").exists()
    finally:
        shutil.rmtree(runs, ignore_errors=True)


def test_unpartitioned_dataset_is_replaced_whole(proj: Flights) -> None:
    for run_id, codes in (("r1", ["AA", "UA", "DL"]), ("r2", ["B6"])):
        ctx = proj.scope(run_id)
        result = write_dataset(ctx, proj.df([(c,) for c in codes], "code string"), "carriers", mode="overwrite")
        assert result.partitions == []
        publish(proj.project, ctx.run_dir, staged_events(ctx))
    live = proj.warehouse / "carriers"
    assert [r.code for r in proj.spark.read.parquet(str(live)).collect()] == ["B6"]
    assert sorted(tree(live)) == ["_nbpipe_manifest.json", "_nbpipe_run.marker", "part-00000.parquet"]
    committed = json.loads((live / MANIFEST).read_text())
    assert (committed["version"], committed["run_id"], list(committed["units"])) == (2, "r2", [""])


def test_csv_output_is_deterministic_and_publishable(proj: Flights) -> None:
    ctx = proj.scope("r1")
    result = write_dataset(ctx, proj.df(DAY1), "flights_csv")
    part = Path(result.path) / "flight_date=2013-01-01" / "part-00000.csv"
    assert part.read_text() == "carrier,flight,dep_delay\nAA,1,5\nUA,2,-3\n"
    publish(proj.project, ctx.run_dir, staged_events(ctx))
    assert (proj.warehouse / "flights_csv" / "flight_date=2013-01-01" / "part-00000.csv").is_file()


def test_explore_write_goes_to_sandbox_and_production_is_untouched(
    proj: Flights, capsys: pytest.CaptureFixture[str]
) -> None:
    r1 = proj.scope("r1")
    write_dataset(r1, proj.df(DAY1), "flights")
    publish(proj.project, r1.run_dir, staged_events(r1))
    prod_before = tree(proj.warehouse / "flights")
    ctx = proj.scope("session-1", mode="explore")
    result = write_dataset(ctx, proj.df([("2013-01-01", "XX", 0, 0), ("2013-01-01", None, 0, 0)]), "flights")
    assert result.sandbox and result.path == str(proj.warehouse / "_explore" / "flights")
    assert result.rows == 2, "explore does not enforce the contract"
    (event,) = events.of_kind(ctx.log.read(), events.DATASET_STAGED)
    assert event["sandbox"] is True
    assert publish(proj.project, ctx.run_dir, [event]) == []
    assert tree(proj.warehouse / "flights") == prod_before
    assert "sandbox: 2 rows" in capsys.readouterr().out


def test_write_rejected_appends_and_publishes_per_run_partition(proj: Flights) -> None:
    from pyspark.sql import functions as F

    ctx = proj.scope("r1")
    bad = proj.df(DAY1).withColumn("_nbpipe_reason", F.lit("expect_column_values_to_be_between dep_delay"))
    assert write_rejected(ctx, bad, "flights") == 2
    assert write_rejected(ctx, bad.limit(1), "flights") == 1
    unit = ctx.staging_dir / "flights__rejected" / "nbpipe_run_id=r1"
    assert sorted(p.name for p in unit.iterdir()) == ["_nbpipe_run.marker", "part-00000.parquet", "part-00001.parquet"]
    result = publish(proj.project, ctx.run_dir, staged_events(ctx))
    assert result == [{"dataset": "flights__rejected", "path": str(proj.warehouse / "flights__rejected"),
                       "partitions": ["nbpipe_run_id=r1"], "rows": 3, "bytes": result[0]["bytes"],
                       "schema_version": None, "format": "parquet", "run_id": "r1"}]
    back = proj.spark.read.parquet(str(proj.warehouse / "flights__rejected"))
    assert back.count() == 3 and dict(back.dtypes)["dep_delay"] == "string"
    assert {r.nbpipe_run_id for r in back.collect()} == {"r1"}
    with pytest.raises(DatasetError, match="need a _nbpipe_reason column"):
        write_rejected(ctx, proj.df(DAY1), "flights")


def test_failed_runs_publish_nothing_and_gc_removes_their_staging(proj: Flights) -> None:
    runs = proj.project.runs_dir
    failed = proj.scope("r-failed")
    write_dataset(failed, proj.df(DAY1), "flights")
    (failed.run_dir / "run.json").write_text(json.dumps({"status": "failed"}))
    killed = proj.scope("r-killed")
    write_dataset(killed, proj.df(DAY1), "flights")
    (killed.run_dir / "run.json").write_text(json.dumps({"status": "running", "pid": 2**22 + 12345}))
    live_run = proj.scope("r-live")
    write_dataset(live_run, proj.df(DAY1), "flights")
    (live_run.run_dir / "run.json").write_text(json.dumps({"status": "running", "pid": os.getpid()}))
    fresh = proj.scope("r-fresh")  # no record yet: presumed live while young
    write_dataset(fresh, proj.df(DAY1), "flights")
    litter = [failed.staging_dir, killed.staging_dir]
    assert gc_staging(proj.project, runs, dry_run=True) == litter
    assert failed.staging_dir.exists()
    assert gc_staging(proj.project, runs) == litter
    assert not failed.staging_dir.exists() and not killed.staging_dir.exists()
    assert live_run.staging_dir.exists() and fresh.staging_dir.exists()
    assert gc_staging(proj.project, runs, pipeline="ingest", min_age_s=0, exclude=[live_run.run_dir]) == [
        fresh.staging_dir]
    assert not (proj.warehouse / "flights").exists(), "nothing was ever published"
    assert discard_staging(live_run.run_dir) is True and not live_run.staging_dir.exists()
    assert discard_staging(live_run.run_dir) is False


def test_publish_refuses_missing_or_foreign_staging(proj: Flights) -> None:
    ctx = proj.scope("r1")
    write_dataset(ctx, proj.df(DAY1), "flights")
    staged = staged_events(ctx)
    other = proj.scope("r9")
    shutil.copytree(ctx.staging_dir, other.staging_dir)
    with pytest.raises(DatasetError, match="staged by run 'r1', not 'r9'"):
        publish(proj.project, other.run_dir, staged)
    shutil.rmtree(ctx.staging_dir)
    with pytest.raises(DatasetError, match="is missing and was never published"):
        publish(proj.project, ctx.run_dir, staged)
    assert not (proj.warehouse / "flights").exists()


def test_path_escape_refused_for_outputs(tmp_path: Path, spark: Any) -> None:
    project = load(tmp_path, datasets={"out": {"path": "../../tmp/x"}})
    ctx = ScopeForTest(project, spark, tmp_path / "runs" / "s", run_id="s", mode="explore", pipeline=None)
    event = {"kind": "dataset_staged", "dataset": "out", "partition_by": [], "partitions": [], "rows": 0}
    with pytest.raises(DatasetError, match="escapes its root"):
        publish(project, ctx.run_dir, [event])



def publish_killed_mid_publish(proj: Flights, ctx: ScopeForTest) -> None:
    """Publish ``ctx``'s staging in another process that SIGKILLs itself after the first unit is swapped."""
    import signal
    import subprocess
    import sys

    from nbpipe.run import failpoints

    events_file = ctx.run_dir / "staged.json"
    events_file.write_text(json.dumps(staged_events(ctx)))
    code = ("import json, sys; from nbpipe.core.config import load_project; from nbpipe.run.publish import publish; "
            "publish(load_project(project_dir=sys.argv[1]), sys.argv[2], json.loads(open(sys.argv[3]).read()))")
    proc = subprocess.run([sys.executable, "-c", code, str(proj.root), str(ctx.run_dir), str(events_file)],
                          env={**os.environ, failpoints.ENV: "mid_publish"}, capture_output=True, text=True,
                          check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def rows_of(df: Any) -> list[tuple[str, str]]:
    return sorted((str(r.flight_date), r.carrier) for r in df.collect())


def test_reads_through_nbpipe_see_the_last_whole_publish_while_one_is_cut_mid_way(proj: Flights) -> None:
    """Killed after day 1 of 2 was swapped: plain readers see a mix, ``ctx.read`` the previous publish whole."""
    from nbpipe.data.read import read_dataset

    r1 = proj.scope("r1")
    write_dataset(r1, proj.df(DAY1 + DAY2), "flights", mode="overwrite_partitions")
    publish(proj.project, r1.run_dir, staged_events(r1))
    live = proj.warehouse / "flights"
    old = [("2013-01-01", "AA"), ("2013-01-01", "UA"), ("2013-01-02", "AA"), ("2013-01-02", "DL")]
    r2 = proj.scope("r2")
    write_dataset(r2, proj.df([("2013-01-01", "WN", 1, 1), ("2013-01-02", "US", 2, 2)]), "flights",
                  mode="overwrite_partitions")
    publish_killed_mid_publish(proj, r2)

    mixed = rows_of(proj.spark.read.parquet(str(live)))
    assert mixed == [("2013-01-01", "WN"), ("2013-01-02", "AA"), ("2013-01-02", "DL")], "plain readers see a mix"
    reader = proj.scope("reader")
    assert rows_of(read_dataset(reader, "flights")) == old, "nbpipe reads the last committed publish whole"
    (event,) = events.of_kind(reader.log.read(), events.DATASET_READ)
    assert event["rows"] == 4 and event["files"] == 2

    publish(proj.project, r2.run_dir, staged_events(r2))  # the next run rolls the publish forward
    new = [("2013-01-01", "WN"), ("2013-01-02", "US")]
    assert rows_of(read_dataset(proj.scope("reader2"), "flights")) == new
    assert rows_of(proj.spark.read.parquet(str(live))) == new
    assert not list(live.glob("**/.nbpipe_prev")) and not publish_work_dir(live, "r2").exists()


def test_read_refuses_a_committed_publish_whose_files_were_deleted(proj: Flights) -> None:
    from nbpipe.data.read import read_dataset

    r1 = proj.scope("r1")
    write_dataset(r1, proj.df(DAY1 + DAY2), "flights")
    publish(proj.project, r1.run_dir, staged_events(r1))
    shutil.rmtree(proj.warehouse / "flights" / "flight_date=2013-01-02")
    with pytest.raises(DatasetError, match=r"files of its last committed publish \(run r1, manifest v1 .*\) are "
                       r"missing from flight_date=2013-01-02: the folder was changed outside nbpipe's publish step"):
        read_dataset(proj.scope("reader"), "flights")


def test_overwrite_of_a_partitioned_dataset_replaces_it_whole(proj: Flights) -> None:
    """``mode="overwrite"`` drops the partitions the new frame does not hold (one unit: the dataset)."""
    first = proj.scope("r1")
    write_dataset(first, proj.df(DAY1 + DAY2), "flights", mode="overwrite_partitions")
    publish(proj.project, first.run_dir, staged_events(first))
    second = proj.scope("r2")
    result = write_dataset(second, proj.df(DAY2), "flights", mode="overwrite")
    assert result.mode == "overwrite" and result.partitions == ["flight_date=2013-01-02"]
    published = publish(proj.project, second.run_dir, staged_events(second))
    live = proj.warehouse / "flights"
    assert published[0]["run_id"] == "r2"
    assert sorted(p.name for p in live.iterdir() if p.is_dir()) == ["flight_date=2013-01-02"]
    assert proj.spark.read.parquet(str(live)).count() == len(DAY2)
    committed = json.loads((live / MANIFEST).read_text())
    assert (committed["run_id"], list(committed["units"])) == ("r2", ["flight_date=2013-01-02"])
