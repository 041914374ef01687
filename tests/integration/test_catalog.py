"""Catalog reads on real Spark: explore inference, strict contract reads, drift, quarantine, errors."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nbpipe.core import events
from nbpipe.data import strict
from nbpipe.data.drift import diff_contract_with_data
from nbpipe.data.read import read_dataset
from nbpipe.errors import BadRowsError, ContractViolationError, DatasetError
from tests.support.pg import jdbc_jar
from tests.support.projects import ProjectForTest
from tests.support.scope import ScopeForTest

pytestmark = pytest.mark.spark

HEADER = "flight_date,carrier,flight,dep_delay\n"
GOOD = ["2013-01-01,AA,1,5", "2013-01-01,UA,2,-3", "2013-01-02,DL,3,0"]
CONTRACT = [
    {"name": "flight_date", "type": "date", "nullable": False},
    {"name": "carrier", "type": "string", "nullable": False},
    {"name": "flight", "type": "int", "nullable": True},
    {"name": "dep_delay", "type": "int", "nullable": True},
]
RAW = {"path": "landing/raw", "format": "csv", "options": {"header": "true"}}
MakeProject = Callable[..., ProjectForTest]  # proj(**datasets)


@pytest.fixture
def proj(tmp_path: Path, spark: Any) -> MakeProject:
    """``proj(**datasets)``: a project with the CSV source ``raw`` (landing/raw), ``datasets`` and one pipeline."""

    def make(**datasets: dict[str, Any]) -> ProjectForTest:
        return ProjectForTest(tmp_path, spark=spark, project="t", datasets={"raw": RAW, **datasets},
                              pipelines={"ingest": {"notebook": "notebooks/ingest.ipynb"}})

    return make


@pytest.fixture(params=["counted first", "one pass"])
def strict_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways a CSV is enforced: a small source is counted, then quarantined only if it has bad
    rows; a big one is quarantined and counted in one pass (forced here on a small file)."""
    if request.param == "one pass":
        monkeypatch.setattr(strict, "SMALL_SOURCE_BYTES", -1)
    return str(request.param)


def _rejected(p: ProjectForTest, ctx: ScopeForTest, dataset: str = "raw") -> list[Any]:
    path = ctx.staging_dir / f"{dataset}__rejected"
    return p.spark.read.parquet(str(path)).orderBy("_nbpipe_reason", "_nbpipe_raw").collect()


def test_prod_read_quarantines_malformed_uncastable_and_null_rows(proj: MakeProject, strict_path: str) -> None:
    p = proj()
    p.contract("raw", CONTRACT)
    bad = ['2013-01-02,B6,4', '2013-01-02,AA,5,abc', '2013-01-03,,6,1', '2013-01-03,"EV,7,2',
           '2013-01-04,WN,8,9,extra', '2013-01-04,US,x9,1']
    p.land("raw", "a.csv", HEADER + "\n".join(GOOD + bad) + "\n")
    ctx = p.scope()
    df = read_dataset(ctx, "raw")
    rows = sorted((str(r.flight_date), r.carrier, r.flight, r.dep_delay) for r in df.collect())
    assert rows == [("2013-01-01", "AA", 1, 5), ("2013-01-01", "UA", 2, -3), ("2013-01-02", "DL", 3, 0)]
    assert df.columns == ["flight_date", "carrier", "flight", "dep_delay"]
    # Column pruning must not change which rows are accepted (the bad value may sit in another column).
    assert df.count() == 3 and df.select("carrier").count() == 3 and df.select("flight_date").distinct().count() == 2
    (read,) = ctx.events(events.DATASET_READ)
    assert read["rows"] == 9 and read["rejected_rows"] == 6 and read["accepted_rows"] == 3
    assert read["rows"] == read["accepted_rows"] + read["rejected_rows"]
    assert read["schema_version"] == "1.0" and read["bytes"] > 0 and read["attempt"] == 1
    rejected = _rejected(p, ctx)
    reasons = sorted(r["_nbpipe_reason"] for r in rejected)
    assert reasons == [
        "column carrier: null in non-null column",
        "column dep_delay: 'abc' is not int",
        "column flight: 'x9' is not int",
        "malformed line",
        "malformed line",
        "malformed line",
    ]
    assert {r["nbpipe_run_id"] for r in rejected} == {"r1"}
    raw_lines = {r["_nbpipe_raw"] for r in rejected if r["_nbpipe_reason"] == "malformed line"}
    assert raw_lines == {"2013-01-02,B6,4", '2013-01-03,"EV,7,2', "2013-01-04,WN,8,9,extra"}
    assert all(r["_nbpipe_source"].endswith("a.csv") for r in rejected)
    (rej_event,) = ctx.events(events.DATASET_REJECTED)
    assert rej_event["dataset"] == "raw__rejected" and rej_event["rows"] == 6
    assert rej_event["partitions"] == ["nbpipe_run_id=r1"]
    assert read["rejected_reasons"]["malformed line"] == 3


def test_on_bad_rows_fail_raises_with_counts_and_examples(proj: MakeProject) -> None:
    p = proj(strict={"path": "landing/raw", "format": "csv", "options": {"header": "true"}, "on_bad_rows": "fail"})
    p.contract("strict", CONTRACT)
    p.land("raw", "a.csv", HEADER + "\n".join([*GOOD, "2013-01-02,AA,5,abc", "2013-01-03,,6,1"]) + "\n")
    ctx = p.scope()
    with pytest.raises(BadRowsError) as exc:
        read_dataset(ctx, "strict")
    msg = str(exc.value)
    assert "2 of 5 rows violate contract v1.0" in msg
    assert "1 x column dep_delay: 'abc' is not int" in msg and "1 x column carrier: null in non-null column" in msg
    assert "on_bad_rows: quarantine" in msg
    assert not ctx.staging_dir.exists(), "nothing is staged when the read fails"
    assert ctx.events(events.DATASET_READ) == []


@pytest.mark.parametrize(
    ("header", "needles"),
    [
        ("flight_date,carrier,flight,dep_delay,tailnum", ["has column(s) not in the contract: tailnum"]),
        ("flight_date,carrier,flight", ["lacks contract column(s): dep_delay"]),
        ("flight_date,carrier,flight_no,dep_delay",
         ["not in the contract: flight_no", "lacks contract column(s): flight"]),
    ],
    ids=["added", "removed", "renamed"],
)
def test_schema_drift_in_csv_header_names_columns_and_promote(
    proj: MakeProject, header: str, needles: list[str]
) -> None:
    p = proj()
    p.contract("raw", CONTRACT)
    p.land("raw", "good.csv", HEADER + GOOD[0] + "\n")
    drifted = p.land("raw", "new.csv", header + "\n" + "2013-01-05,AA,1,2,N1\n")
    ctx = p.scope()
    with pytest.raises(ContractViolationError) as exc:
        read_dataset(ctx, "raw")
    msg = str(exc.value)
    assert str(drifted) in msg
    assert all(n in msg for n in needles), msg
    assert "nbpipe promote notebooks/ingest.ipynb" in msg
    assert not ctx.staging_dir.exists()


def test_reordered_header_is_read_by_name(proj: MakeProject) -> None:
    p = proj()
    p.contract("raw", CONTRACT)
    p.land("raw", "a.csv", HEADER + GOOD[0] + "\n")
    p.land("raw", "b.csv", "dep_delay,flight,carrier,flight_date\n7,9,UA,2013-01-09\n")
    df = read_dataset(p.scope(), "raw")
    got = sorted((str(r.flight_date), r.carrier, r.flight, r.dep_delay) for r in df.collect())
    assert got == [("2013-01-01", "AA", 1, 5), ("2013-01-09", "UA", 9, 7)]


def test_retyped_column_in_parquet_source_is_drift(proj: MakeProject, spark: Any) -> None:
    p = proj(events_pq={"path": "landing/events", "format": "parquet"})
    p.contract("events_pq", [{"name": "id", "type": "int", "nullable": False}, {"name": "v", "type": "double"}])
    out = p.root / "landing" / "events"
    spark.createDataFrame([("1", 1.0)], "id string, v double").write.parquet(str(out))
    with pytest.raises(ContractViolationError, match=r"column id: expected int, got string") as exc:
        read_dataset(p.scope(), "events_pq")
    assert "nbpipe promote" in str(exc.value)


def test_parquet_source_nulls_and_widening(proj: MakeProject, spark: Any) -> None:
    p = proj(events_pq={"path": "landing/events", "format": "parquet"})
    p.contract("events_pq", [{"name": "id", "type": "bigint", "nullable": False}, {"name": "v", "type": "double"}])
    out = p.root / "landing" / "events"
    spark.createDataFrame([(1, 1.0), (None, 2.0), (3, None)], "id int, v double").write.parquet(str(out))
    ctx = p.scope()
    df = read_dataset(ctx, "events_pq")
    assert dict(df.dtypes) == {"id": "bigint", "v": "double"}
    assert sorted(r.id for r in df.collect()) == [1, 3]
    assert [r["_nbpipe_reason"] for r in _rejected(p, ctx, "events_pq")] == ["column id: null in non-null column"]


def test_parquet_source_without_bad_rows_is_proven_by_footers(proj: MakeProject, spark: Any) -> None:
    p = proj(events_pq={"path": "landing/events", "format": "parquet"})
    p.contract("events_pq", [{"name": "id", "type": "bigint", "nullable": False}, {"name": "v", "type": "double"},
                             {"name": "day", "type": "date", "nullable": False}])
    out = p.root / "landing" / "events"
    spark.createDataFrame([(1, 1.0, "2013-01-01"), (2, None, "2013-01-01"), (3, 3.0, "2013-01-02")],
                          "id int, v double, day string").write.partitionBy("day").parquet(str(out))
    ctx = p.scope()
    sc = spark.sparkContext
    sc.setJobGroup("footers", "strict parquet read")
    try:
        df = read_dataset(ctx, "events_pq")
    finally:
        sc.setJobGroup("other", "after the read")
    # Parquet's own schema inference may run one job; counting and quarantine ran none.
    assert len(sc.statusTracker().getJobIdsForGroup("footers")) <= 1
    assert not (ctx.staging_dir / "events_pq__rejected").exists()
    (read,) = ctx.events(events.DATASET_READ)
    assert (read["rows"], read["accepted_rows"], read["rejected_rows"]) == (3, 3, 0)
    assert dict(df.dtypes) == {"id": "bigint", "v": "double", "day": "date"}
    assert sorted((r.id, str(r.day)) for r in df.collect()) == [(1, "2013-01-01"), (2, "2013-01-01"), (3, "2013-01-02")]

    # A null partition value is a null in a non-null column: the footers cannot clear it, Spark quarantines it.
    spark.createDataFrame([(4, 4.0, None)], "id int, v double, day string").write.mode("append") \
        .partitionBy("day").parquet(str(out))
    ctx2 = p.scope(run_id="r2")
    df2 = read_dataset(ctx2, "events_pq")
    assert sorted(r.id for r in df2.collect()) == [1, 2, 3]
    (read2,) = ctx2.events(events.DATASET_READ)
    assert (read2["rows"], read2["accepted_rows"], read2["rejected_rows"]) == (4, 3, 1)
    assert [r["_nbpipe_reason"] for r in _rejected(p, ctx2, "events_pq")] == ["column day: null in non-null column"]


def test_empty_inputs_give_empty_frames_with_the_contract_schema(proj: MakeProject) -> None:
    p = proj()
    p.contract("raw", CONTRACT)
    p.land("raw", "header_only.csv", HEADER)
    p.land("raw", "zero.csv", "")
    ctx = p.scope()
    df = read_dataset(ctx, "raw")
    assert df.count() == 0 and df.columns == [c["name"] for c in CONTRACT]
    empty = read_dataset(ctx, "raw", paths=[])
    assert empty.count() == 0 and dict(empty.dtypes)["flight_date"] == "date"
    reads = ctx.events(events.DATASET_READ)
    assert [(e["rows"], e["rejected_rows"], e["files"]) for e in reads] == [(0, 0, 2), (0, 0, 0)]


def test_missing_input_path_names_path_and_config_key(proj: MakeProject) -> None:
    p = proj()
    p.contract("raw", CONTRACT)
    with pytest.raises(DatasetError) as exc:
        read_dataset(p.scope(), "raw")
    assert str(p.root / "landing" / "raw") in str(exc.value) and "datasets.raw.path" in str(exc.value)
    p.land("raw", "a.csv", HEADER)
    with pytest.raises(DatasetError, match=r"input file of dataset 'raw' is missing: .*nope\.csv"):
        read_dataset(p.scope(), "raw", paths=["landing/raw/nope.csv"])


def test_path_escape_and_bad_names_are_refused(proj: MakeProject) -> None:
    p = proj(evil={"path": "../../etc", "format": "csv"})
    with pytest.raises(DatasetError, match="escapes its root"):
        read_dataset(p.scope(), "evil")
    p.contract("raw", CONTRACT)
    p.land("raw", "a.csv", HEADER)
    with pytest.raises(DatasetError, match="escapes its root"):
        read_dataset(p.scope(), "raw", paths=["/etc/passwd"])
    with pytest.raises(DatasetError, match="not allowed"):
        read_dataset(p.scope(), "../raw")
    with pytest.raises(DatasetError, match="did you mean 'raw'"):
        read_dataset(p.scope(), "raww")


def test_prod_read_of_clean_files_counts_every_row_and_stages_nothing(
        proj: MakeProject, strict_path: str) -> None:
    p = proj()
    p.contract("raw", CONTRACT)
    p.land("raw", "a.csv", HEADER + "\n".join(GOOD) + "\n")
    p.land("raw", "b.csv", HEADER + GOOD[0] + "\n")
    ctx = p.scope()
    df = read_dataset(ctx, "raw")
    (read,) = ctx.events(events.DATASET_READ)
    assert (read["rows"], read["accepted_rows"], read["rejected_rows"]) == (4, 4, 0)
    assert read["rejected_reasons"] == {} and df.count() == 4
    assert not (ctx.staging_dir / "raw__rejected").exists()
    assert ctx.events(events.DATASET_REJECTED) == []


def test_column_names_with_spaces_quotes_and_backticks_are_quoted_in_reasons(
        proj: MakeProject, strict_path: str) -> None:
    """Projections and reasons are SQL text: odd column names must be quoted, not interpreted."""
    p = proj()
    p.contract("raw", [{"name": "flight date", "type": "date", "nullable": False},
                       {"name": "it's", "type": "int", "nullable": True},
                       {"name": "a`b\\c", "type": "string", "nullable": False}])
    p.land("raw", "a.csv", '"flight date","it\'s","a`b\\c"\n2013-01-01,1,x\n2013-01-02,z,y\n2013-01-03,2,\n')
    ctx = p.scope()
    df = read_dataset(ctx, "raw")
    assert df.columns == ["flight date", "it's", "a`b\\c"]
    assert [tuple(r) for r in df.collect()] == [(dt.date(2013, 1, 1), 1, "x")]
    assert sorted(r["_nbpipe_reason"] for r in _rejected(p, ctx)) == [
        "column a`b\\c: null in non-null column", "column it's: 'z' is not int"]


def test_one_pass_quarantine_of_several_files_stages_each_tasks_rows(proj: MakeProject,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(strict, "SMALL_SOURCE_BYTES", -1)
    p = proj()
    p.contract("raw", CONTRACT)
    for k in range(3):
        p.land("raw", f"part-{k}.csv", HEADER + GOOD[k] + f"\n2013-01-0{k + 1},AA,{k},abc\n2013-01-09,B6\n")
    ctx = p.scope()
    assert read_dataset(ctx, "raw").count() == 3
    (read,) = ctx.events(events.DATASET_READ)
    assert (read["rows"], read["accepted_rows"], read["rejected_rows"]) == (9, 3, 6)
    assert read["rejected_reasons"] == {"column dep_delay: 'abc' is not int": 3, "malformed line": 3}
    rejected = _rejected(p, ctx)
    assert len(rejected) == 6 and {r["_nbpipe_source"].rsplit("/", 1)[-1] for r in rejected} == \
        {"part-0.csv", "part-1.csv", "part-2.csv"}
    unit = ctx.staging_dir / "raw__rejected" / "nbpipe_run_id=r1"
    (event,) = ctx.events(events.DATASET_REJECTED)
    files = sorted(unit.glob("part-*.parquet"))
    assert event["rows"] == 6 and event["bytes"] == sum(f.stat().st_size for f in files)
    assert [f.name for f in files] == [f"part-{i:05d}.parquet" for i in range(len(files))]
    assert len(files) > 1  # two tasks on local[2], each wrote its own bad rows


def test_prod_read_without_contract_infers_quarantines_and_warns(proj: MakeProject, strict_path: str) -> None:
    p = proj()
    p.land("raw", "a.csv", HEADER + GOOD[0] + "\n" + GOOD[1] + "\n2013-01-01,AA,1,5,extra,fields\n")
    ctx = p.scope()
    df = read_dataset(ctx, "raw")
    assert sorted(r.carrier for r in df.collect()) == ["AA", "UA"]
    read = ctx.events(events.DATASET_READ)[0]
    assert (read["rows"], read["accepted_rows"], read["rejected_rows"]) == (3, 2, 1)
    assert read["schema_version"] is None
    warning = ctx.events(events.LOG)[0]
    assert warning["level"] == "warning" and "has no contract" in warning["message"]
    assert "nbpipe promote notebooks/ingest.ipynb" in warning["message"]


def test_paths_subset_keeps_partition_columns_and_enforcement(proj: MakeProject, strict_path: str) -> None:
    p = proj()
    p.contract("raw", [*CONTRACT, {"name": "day", "type": "date", "nullable": False}])
    p.land("raw", "day=2013-01-01/a.csv", HEADER + GOOD[0] + "\n")
    second = p.land("raw", "day=2013-01-02/b.csv", HEADER + GOOD[1] + "\n2013-01-02,AA,5,abc\n")
    ctx = p.scope()
    df = read_dataset(ctx, "raw", paths=[str(second)])
    got = [(r.carrier, str(r.day)) for r in df.collect()]
    assert got == [("UA", "2013-01-02")]
    assert [r["_nbpipe_reason"] for r in _rejected(p, ctx)] == ["column dep_delay: 'abc' is not int"]
    whole = read_dataset(ctx, "raw")
    assert whole.count() == 2
    assert len(list((ctx.staging_dir / "raw__rejected" / "nbpipe_run_id=r1").glob("part-*.parquet"))) == 2


def test_explore_read_infers_counts_corrupt_and_diffs_the_contract(
    proj: MakeProject, capsys: pytest.CaptureFixture[str]
) -> None:
    p = proj()
    p.contract("raw", CONTRACT)
    p.land("raw", "a.csv", HEADER + "\n".join([*GOOD, "2013-01-02,AA,5,abc", "2013-01-03,B6"]) + "\n")
    ctx = p.scope(mode="explore")
    df = read_dataset(ctx, "raw")
    assert "_corrupt_record" in df.columns and df.count() == 5
    (read,) = ctx.events(events.DATASET_READ)
    assert read["mode"] == "explore" and read["rows"] == 5 and read["corrupt_rows"] == 1
    types = {f["name"]: f["type"] for f in read["schema"]}
    assert types == {"flight_date": "date", "carrier": "string", "flight": "int", "dep_delay": "string"}
    assert "dep_delay: int -> string" in read["contract_diff"]
    out = capsys.readouterr().out
    assert "corrupt rows (in _corrupt_record): 1" in out and "dep_delay: int -> string" in out
    assert not ctx.staging_dir.exists(), "explore reads quarantine nothing"


def test_json_prod_read_quarantines_and_detects_extra_fields(proj: MakeProject) -> None:
    p = proj(ev={"path": "landing/ev", "format": "json"})
    p.contract("ev", [{"name": "id", "type": "int", "nullable": False}, {"name": "v", "type": "double"}])
    src = p.root / "landing" / "ev"
    src.mkdir(parents=True)
    lines = ['{"id": 1, "v": 1.5}', '{"id": "x", "v": 2}', '{"id": 3, "v": 3', '{"v": 4.0}', '{"id": 5}']
    (src / "a.json").write_text("\n".join(lines) + "\n")
    ctx = p.scope()
    df = read_dataset(ctx, "ev")
    assert sorted(r.id for r in df.collect()) == [1, 5]
    assert sorted(r["_nbpipe_reason"] for r in _rejected(p, ctx, "ev")) == [
        "column id: 'x' is not int", "column id: null in non-null column", "malformed line"]
    (src / "b.json").write_text('{"id": 9, "v": 1.0, "extra": true}\n')
    with pytest.raises(ContractViolationError, match="has field extra not in the contract"):
        read_dataset(p.scope(run_id="r2"), "ev")


def test_diff_contract_with_data(proj: MakeProject) -> None:
    p = proj()
    p.contract("raw", CONTRACT)
    p.land("raw", "a.csv", "flight_date,carrier,flight,dep_delay,tailnum\n2013-01-01,AA,1,5,N1\n2013-01-01,,1,5,N2\n")
    diff = diff_contract_with_data(p.project, "raw")
    assert [c.name for c in diff.added] == ["tailnum"]
    assert diff.loosened == ["carrier"], "carrier holds a null in the data"
    assert diff.breaking and "carrier: not null -> nullable" in diff.render()


@pytest.mark.postgres
def test_jdbc_source_on_postgres(proj: MakeProject, pg_database: Callable[[], str]) -> None:
    import psycopg

    from nbpipe.data.sources import JDBC_JAR

    assert jdbc_jar() == JDBC_JAR, "the data plane loads the driver from where the tests find it"
    url = pg_database()
    netloc, db = url.split("@", 1)[1].split("/", 1)
    with psycopg.connect(f"postgresql://postgres@{netloc}/{db}", autocommit=True) as conn:
        conn.execute("CREATE TABLE airlines (code text, name text, fleet integer)")
        conn.execute("INSERT INTO airlines VALUES ('AA', 'American', 900), ('UA', 'United', 800), (NULL, 'Ghost', 1)")
    p = proj(airlines={"format": "jdbc", "options": {"url": f"jdbc:postgresql://{netloc}/{db}?user=postgres",
                                                    "dbtable": "airlines"}})
    explore = p.scope(mode="explore", run_id="e1")
    df = read_dataset(explore, "airlines")
    assert df.count() == 3 and dict(df.dtypes) == {"code": "string", "name": "string", "fleet": "int"}
    p.contract("airlines", [{"name": "code", "type": "string", "nullable": False},
                            {"name": "name", "type": "string"}, {"name": "fleet", "type": "int"}])
    ctx = p.scope()
    prod = read_dataset(ctx, "airlines")
    assert sorted(r.code for r in prod.collect()) == ["AA", "UA"]
    (rej,) = _rejected(p, ctx, "airlines")
    assert rej["_nbpipe_reason"] == "column code: null in non-null column" and rej["name"] == "Ghost"
    (read,) = ctx.events(events.DATASET_READ)
    assert read["rows"] == 3 and read["rejected_rows"] == 1 and "user=" not in json.dumps(read)
