"""The example landing zone: layout, fidelity to the source data, idempotence, defects, snapshots."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from nbpipe.errors import DatasetError
from nbpipe.examples import flights as demo

FLIGHT_COLUMNS = 19


@pytest.fixture(scope="module")
def source_flights() -> pd.DataFrame:
    """The package's flights table read independently of nbpipe.examples.flights (strings, as in the file)."""
    with zipfile.ZipFile(demo._data_dir() / "flights.csv.zip") as zf:
        return pd.read_csv(io.BytesIO(zf.read("flights.csv")), dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def landed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("project")
    return root, demo.land(root, days=7)


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _day_rows(landing: Path, day: str) -> tuple[list[str], list[list[str]]]:
    parts = sorted((landing / "flights" / f"date={day}").glob("part-*.csv"))
    header: list[str] = []
    rows: list[list[str]] = []
    for part in parts:
        got = _rows(part)
        header = got[0]
        rows.extend(got[1:])
    return header, rows


def _snapshot(files: dict[Path, tuple[int, bytes]]) -> dict[Path, tuple[int, bytes]]:
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files}


def test_layout_and_summary(landed: tuple[Path, dict]) -> None:
    root, summary = landed
    landing = root / "data" / "landing"
    days = [f"2013-01-0{i}" for i in range(1, 8)]
    assert summary["days"] == days
    for day in days:
        assert (landing / "flights" / f"date={day}" / "part-0000.csv").is_file()
        assert (landing / "weather" / f"date={day}" / "part-0000.csv").is_file()
    for rel in ("airlines/airlines.csv", "airports/airports.csv", "planes/snapshot=2013-01-01/planes.csv"):
        assert (landing / rel).is_file()
    assert not (landing / "flights" / "date=2013-01-08").exists()
    every = sorted(str(p.relative_to(landing)) for p in landing.rglob("*") if p.is_file())
    assert every == sorted(summary["written"])
    assert not [p for p in every if Path(p).name.startswith(".")], "temp files left behind"
    assert summary["rows"]["airlines"] == 16
    assert summary["rows"]["airports"] == len(_rows(landing / "airports/airports.csv")) - 1


def test_clean_day_matches_the_source_exactly(tmp_path: Path, source_flights: pd.DataFrame) -> None:
    demo.land(tmp_path, days=3, defects=False)
    landing = tmp_path / "data" / "landing"
    for day in (dt.date(2013, 1, 1), dt.date(2013, 1, 2), dt.date(2013, 1, 3)):
        header, rows = _day_rows(landing, day.isoformat())
        expected = source_flights[(source_flights.month == str(day.month)) & (source_flights.day == str(day.day))]
        assert header == list(source_flights.columns)
        assert sorted(map(tuple, rows)) == sorted(map(tuple, expected.itertuples(index=False, name=None)))
    # times as in the source: hhmm integers, NA for cancelled flights
    _, rows = _day_rows(landing, "2013-01-01")
    assert rows[0][3] == "517" and any(r[3] == "NA" for r in rows)


def test_split_day_has_an_afternoon_drop(landed: tuple[Path, dict]) -> None:
    root, _ = landed
    day_dir = root / "data/landing/flights/date=2013-01-03"
    morning = _rows(day_dir / "part-0000.csv")[1:]
    afternoon = _rows(day_dir / "part-0001.csv")[1:]
    assert afternoon and morning
    assert all(int(r[4]) >= demo.SPLIT_AT_SCHED_DEP for r in afternoon)
    assert all(int(r[4]) < demo.SPLIT_AT_SCHED_DEP for r in morning)
    assert not (root / "data/landing/flights/date=2013-01-04/part-0001.csv").exists()


def test_defects_are_injected_where_the_summary_says(landed: tuple[Path, dict]) -> None:
    root, summary = landed
    landing = root / "data" / "landing"
    kinds = {day: sorted(d["kind"] for d in found) for day, found in summary["defects"].items()}
    assert kinds["2013-01-02"] == ["unparseable_number", "wrong_column_count"]
    assert kinds["2013-01-03"] == ["null_carrier", "null_carrier"]
    assert kinds["2013-01-05"] == ["duplicate_row"]
    assert kinds["2013-01-01"] == kinds["2013-01-04"] == kinds["2013-01-07"] == []
    for day, found in summary["defects"].items():
        for defect in found:
            line = _rows(landing / defect["file"])[defect["line"] - 1]
            if defect["kind"] == "wrong_column_count":
                assert len(line) == 12
            elif defect["kind"] == "unparseable_number":
                assert len(line) == FLIGHT_COLUMNS and line[5] == defect["value"]
                assert line[5].endswith("x")
                with pytest.raises(ValueError):
                    int(line[5])
            elif defect["kind"] == "null_carrier":
                assert line[9] == "NA"
            elif defect["kind"] == "duplicate_row":
                _, rows = _day_rows(landing, day)
                assert rows.count(line) == 2
    # nothing else is broken: every other line has 19 columns and a numeric or NA dep_delay
    for day in summary["days"]:
        _, rows = _day_rows(landing, day)
        bad = [r for r in rows if len(r) != FLIGHT_COLUMNS or not (r[5] == "NA" or r[5].lstrip("-").isdigit())]
        malformed = ("wrong_column_count", "unparseable_number")
        n_malformed = sum(d["kind"] in malformed for d in summary["defects"][day])
        assert len(bad) == n_malformed
        assert len(rows) == summary["rows"]["flights"][day]


def test_landing_again_rewrites_nothing(landed: tuple[Path, dict], tmp_path: Path) -> None:
    root = tmp_path
    first = demo.land(root, days=7)
    files = {p: (0, b"") for p in (root / "data/landing").rglob("*") if p.is_file()}
    before = _snapshot(files)
    again = demo.land(root, days=7)
    assert again["written"] == []
    assert sorted(again["skipped"]) == sorted(first["written"])
    assert _snapshot(files) == before
    # the bytes do not depend on where the file is landed or with which other days
    other = landed[0] / "data/landing"
    for path in files:
        assert path.read_bytes() == (other / path.relative_to(root / "data/landing")).read_bytes()


def test_more_days_adds_only_the_new_days(tmp_path: Path) -> None:
    first = demo.land(tmp_path, days=7)
    before = _snapshot({p: (0, b"") for p in (tmp_path / "data/landing").rglob("*") if p.is_file()})
    more = demo.land(tmp_path, days=14)
    assert sorted(more["skipped"]) == sorted(first["written"])
    new_days = {f"date=2013-01-{d:02d}" for d in range(8, 15)}
    for rel in more["written"]:
        assert rel.split("/")[1] in new_days or rel == "planes/snapshot=2013-01-08/planes.csv", rel
    assert len([r for r in more["written"] if r.startswith("flights/")]) >= 7
    assert _snapshot({p: (0, b"") for p in before}) == before


def test_one_day_landed_alone_is_identical(landed: tuple[Path, dict], tmp_path: Path) -> None:
    summary = demo.land(tmp_path, days=1, start=dt.date(2013, 1, 5))
    assert summary["days"] == ["2013-01-05"]
    assert summary["defects"]["2013-01-05"] == landed[1]["defects"]["2013-01-05"]
    rel = "flights/date=2013-01-05/part-0000.csv"
    assert (tmp_path / "data/landing" / rel).read_bytes() == (landed[0] / "data/landing" / rel).read_bytes()
    # the planes snapshot in force on Jan 5 is the one of Jan 1
    assert list(summary["rows"]["planes"]) == ["2013-01-01"]


def test_planes_snapshots_give_scd2_work(tmp_path: Path) -> None:
    summary = demo.land(tmp_path, days=14, defects=False)
    landing = tmp_path / "data/landing/planes"
    old = {r[0]: r for r in _rows(landing / "snapshot=2013-01-01/planes.csv")[1:]}
    new = {r[0]: r for r in _rows(landing / "snapshot=2013-01-08/planes.csv")[1:]}
    changes = summary["planes_changes"]["2013-01-08"]
    assert sorted(set(new) - set(old)) == changes["inserted"] and len(changes["inserted"]) >= 3
    assert sorted(set(old) - set(new)) == changes["removed"] and len(changes["removed"]) == 1
    updated = sorted(t for t in new if t in old and new[t] != old[t])
    assert updated == changes["updated"] and len(updated) == 4
    changed_columns = {i for t in updated for i, (a, b) in enumerate(zip(old[t], new[t])) if a != b}
    assert changed_columns == {6, 8}  # seats and engine
    assert summary["rows"]["planes"] == {"2013-01-01": len(old), "2013-01-08": len(new)}


def test_write_atomic_replaces_and_skips(tmp_path: Path) -> None:
    target = tmp_path / "a" / "f.csv"
    assert demo.write_atomic(target, b"x,y\n1,2\n") is True
    mtime = target.stat().st_mtime_ns
    assert demo.write_atomic(target, b"x,y\n1,2\n") is False
    assert target.stat().st_mtime_ns == mtime
    assert demo.write_atomic(target, b"x,y\n1,3\n") is True
    assert target.read_bytes() == b"x,y\n1,3\n"
    assert [p.name for p in target.parent.iterdir()] == ["f.csv"]


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"days": 0}, "at least 1"),
        ({"start": dt.date(2012, 12, 31)}, "outside the example data"),
        ({"start": dt.date(2013, 12, 30), "days": 3}, "2014-01-01"),
    ],
)
def test_bad_ranges_are_refused(tmp_path: Path, kwargs: dict, needle: str) -> None:
    with pytest.raises(DatasetError, match=needle) as info:
        demo.land(tmp_path, **kwargs)
    assert info.value.hint
    assert not (tmp_path / "data").exists()
