"""Incremental state arithmetic: positions, what is new relative to them, and how they advance.

Pure functions over JSON-able dicts (no Spark, no store, no filesystem), in the spirit of dlt's
``extract/incremental``: the adapter (:mod:`nbpipe.data.incremental`, :mod:`nbpipe.data.incremental.kafka`) observes the
source, these functions decide what to read and which position to propose, and the runner commits
the proposal only when the run succeeds.

A *position* is what the store keeps per ``(pipeline, dataset)``; one shape per kind::

    files      {"kind": "files", "files": {"date=2013-01-01/a.csv": {"size": 10, "mtime_ns": 1}}}
    watermark  {"kind": "watermark", "column": "updated_at", "type": "timestamp",
                "high": "2013-01-02T00:00:00+00:00"}
    kafka      {"kind": "kafka", "topic": "flights", "offsets": {"0": 42, "1": 17}}

Kafka offsets are the *next* offset to read per partition (Kafka's own commit convention).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Literal

from nbpipe.errors import StateError, did_you_mean

Kind = Literal["files", "watermark", "kafka"]
KINDS: tuple[str, ...] = ("files", "watermark", "kafka")
WatermarkType = Literal["timestamp", "timestamp_ntz", "date", "number", "string"]
WATERMARK_TYPES: tuple[str, ...] = ("timestamp", "timestamp_ntz", "date", "number", "string")
"""Relative path -> ``{"size": bytes, "mtime_ns": int}``."""
Lookback = dt.timedelta | float | int | None

_UNITS: dict[str, float] = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*$")


# --------------------------------------------------------------------------- positions


def empty_position(kind: str, **fields: Any) -> dict[str, Any]:
    """The position before any successful run: nothing has been read yet."""
    if kind == "files":
        return {"kind": "files", "files": {}}
    if kind == "watermark":
        return {"kind": "watermark", "column": fields.get("column"), "type": fields.get("type"), "high": None}
    if kind == "kafka":
        return {"kind": "kafka", "topic": fields.get("topic"), "offsets": {}}
    raise StateError(f"unknown incremental kind {kind!r}{did_you_mean(kind, KINDS)}", hint=f"one of {KINDS}")


def check_position(position: Any, kind: str, dataset: str) -> dict[str, Any]:
    """Validate a committed position for ``dataset``; ``None``/``{}`` mean "never read".

    Raises:
        StateError: the position is not a mapping, holds another kind, or lacks a field.
    """
    if position is None or position == {}:
        return empty_position(kind)
    if not isinstance(position, Mapping):
        raise StateError(
            f"committed state of dataset {dataset!r} is a {type(position).__name__}, not a mapping",
            hint="the state file was edited or written by another tool; reset this dataset's state",
        )
    found = position.get("kind")
    if found != kind:
        raise StateError(
            f"committed state of dataset {dataset!r} is a {found!r} position but this read is {kind!r}",
            hint="read it the same way as before (files / column= / kafka) or reset this dataset's state "
            "so the next successful run starts from scratch",
        )
    required = {"files": ("files",), "watermark": ("column", "high"), "kafka": ("offsets",)}[kind]
    missing = [f for f in required if f not in position]
    if missing:
        raise StateError(
            f"committed {kind} state of dataset {dataset!r} lacks field(s) {', '.join(missing)}",
            hint=f"expected a position like {empty_position(kind)}; reset this dataset's state",
        )
    return dict(position)


# --------------------------------------------------------------------------- files


def new_files(
    listing: Mapping[str, Mapping[str, int]], position: Mapping[str, Any]
) -> tuple[list[str], list[str]]:
    """Files to read now, and the subset that changed since they were read.

    A file is *new* when its path is not in the position (a late file in an old partition is
    new too), *changed* when its path is there with another size or mtime. Changed files are
    included in the files to read (re-read by default); the caller warns about them.

    Args:
        listing: the current listing, relative path -> ``{"size", "mtime_ns"}``.
        position: a ``files`` position (or ``{}``).

    Returns:
        ``(files_to_read, changed_files)``, both sorted by path.
    """
    seen: Mapping[str, Mapping[str, int]] = position.get("files") or {}
    to_read: list[str] = []
    changed: list[str] = []
    for path in sorted(listing):
        meta = listing[path]
        before = seen.get(path)
        if before is None:
            to_read.append(path)
        elif int(before.get("size", -1)) != int(meta["size"]) or int(before.get("mtime_ns", -1)) != int(
            meta["mtime_ns"]
        ):
            to_read.append(path)
            changed.append(path)
    return to_read, changed


def limit_files(files: list[str], max_files: int | None) -> list[str]:
    """The first ``max_files`` of ``files`` (all when ``None``); the rest wait for the next run."""
    if max_files is None:
        return list(files)
    if isinstance(max_files, bool) or not isinstance(max_files, int) or max_files < 1:
        raise StateError(f"max_files must be a positive integer or None, got {max_files!r}")
    return list(files[:max_files])


def advance_files(position: Mapping[str, Any], read_files: Mapping[str, Mapping[str, int]]) -> dict[str, Any]:
    """The position after reading ``read_files`` (path -> size/mtime as read)."""
    files = {p: dict(m) for p, m in (position.get("files") or {}).items()}
    for path, meta in read_files.items():
        files[path] = {"size": int(meta["size"]), "mtime_ns": int(meta["mtime_ns"])}
    return {"kind": "files", "files": dict(sorted(files.items()))}


# --------------------------------------------------------------------------- watermark


def parse_lookback(lookback: Any) -> Lookback:
    """Normalise ``lookback``: a timedelta, a number, or a string like ``"2 days"``/``"6h"``.

    Raises:
        StateError: the value is negative or not understood.
    """
    if lookback is None:
        return None
    if isinstance(lookback, dt.timedelta):
        if lookback < dt.timedelta(0):
            raise StateError(f"lookback must not be negative, got {lookback}")
        return lookback
    if isinstance(lookback, bool):
        raise StateError(f"lookback {lookback!r} is not a duration or a number")
    if isinstance(lookback, (int, float)):
        if not math.isfinite(lookback) or lookback < 0:
            raise StateError(f"lookback must be a finite number >= 0, got {lookback!r}")
        return lookback
    if isinstance(lookback, str):
        match = _DURATION_RE.match(lookback)
        if match:
            unit = match.group(2).lower()
            if unit not in _UNITS:
                raise StateError(
                    f"lookback {lookback!r}: unknown unit {unit!r}{did_you_mean(unit, _UNITS)}",
                    hint="use e.g. '2 days', '6h', '30 minutes', '1 week', or a number for numeric columns",
                )
            return dt.timedelta(seconds=float(match.group(1)) * _UNITS[unit])
        try:
            return parse_lookback(float(lookback))
        except ValueError:
            pass
    raise StateError(
        f"lookback {lookback!r} is not understood",
        hint="use a timedelta, a string like '2 days' or '6h', or a number for numeric columns",
    )


def encode_watermark(value: Any, wtype: str) -> Any:
    """Make a watermark value JSON: ISO strings for time, numbers as numbers."""
    if value is None:
        return None
    if wtype == "timestamp":
        if not isinstance(value, dt.datetime):
            raise StateError(f"timestamp watermark {value!r} is not a datetime")
        aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return aware.astimezone(dt.UTC).isoformat()
    if wtype == "timestamp_ntz":
        if not isinstance(value, dt.datetime):
            raise StateError(f"timestamp watermark {value!r} is not a datetime")
        return value.replace(tzinfo=None).isoformat()
    if wtype == "date":
        if isinstance(value, dt.datetime):
            value = value.date()
        return value.isoformat()
    if wtype == "number":
        if isinstance(value, bool):
            raise StateError(f"numeric watermark {value!r} is a bool")
        if isinstance(value, int):
            return value
        if isinstance(value, Decimal) and value == value.to_integral_value():
            return int(value)
        return float(value)
    if wtype == "string":
        return str(value)
    raise StateError(f"unknown watermark type {wtype!r}{did_you_mean(wtype, WATERMARK_TYPES)}")


def decode_watermark(value: Any, wtype: str) -> Any:
    """The Python value of an encoded watermark (inverse of :func:`encode_watermark`)."""
    if value is None:
        return None
    try:
        if wtype == "timestamp":
            parsed = dt.datetime.fromisoformat(value)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
        if wtype == "timestamp_ntz":
            return dt.datetime.fromisoformat(value).replace(tzinfo=None)
        if wtype == "date":
            return dt.date.fromisoformat(value)
        if wtype == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(value)
            return value
        if wtype == "string":
            return str(value)
    except (TypeError, ValueError) as exc:
        raise StateError(
            f"committed watermark {value!r} is not a valid {wtype}",
            hint="the state was edited or the column changed type; reset this dataset's state",
        ) from exc
    raise StateError(f"unknown watermark type {wtype!r}{did_you_mean(wtype, WATERMARK_TYPES)}")


def lower_bound(high: Any, lookback: Lookback, wtype: str) -> Any:
    """``high - lookback`` for the watermark type (``None`` when nothing was committed).

    Raises:
        StateError: the lookback does not fit the column type (a duration for a number column,
            a number for a time column, any lookback for a string column).
    """
    if high is None:
        return None
    if lookback is None or lookback == 0:
        return high
    if wtype in ("timestamp", "timestamp_ntz", "date"):
        if not isinstance(lookback, dt.timedelta):
            raise StateError(
                f"lookback {lookback!r} is a number but the watermark column is a {wtype}",
                hint="give a duration: lookback='2 days' or '6h' or datetime.timedelta(...)",
            )
        if wtype == "date":
            days = math.ceil(lookback / dt.timedelta(days=1))
            return high - dt.timedelta(days=days)
        return high - lookback
    if wtype == "number":
        if isinstance(lookback, dt.timedelta):
            raise StateError(
                f"lookback {lookback} is a duration but the watermark column is numeric",
                hint="give a number in the column's units, e.g. lookback=100",
            )
        return high - lookback
    raise StateError(
        f"a lookback cannot be applied to a {wtype} watermark column",
        hint="drop lookback=, or use a timestamp, date or numeric column",
    )


def watermark_range(
    position: Mapping[str, Any], max_seen: Any, lookback: Lookback, wtype: str
) -> tuple[Any, Any]:
    """The range ``(low, high]`` to read, as decoded Python values.

    ``low`` is the committed high minus the lookback (``None``: from the beginning); ``high`` is
    the largest value seen now above ``low``, or the committed high when nothing is there.
    """
    committed = decode_watermark(position.get("high"), wtype)
    low = lower_bound(committed, lookback, wtype)
    if max_seen is None:
        return low, committed
    if committed is not None and max_seen < committed:
        return low, committed
    return low, max_seen


def advance_watermark(position: Mapping[str, Any], column: str, wtype: str, high: Any) -> dict[str, Any]:
    """The position after reading up to ``high`` (never moves backwards)."""
    committed = decode_watermark(position.get("high"), wtype)
    if committed is not None and (high is None or high < committed):
        high = committed
    return {"kind": "watermark", "column": column, "type": wtype, "high": encode_watermark(high, wtype)}


def check_watermark_column(position: Mapping[str, Any], column: str, wtype: str, dataset: str) -> None:
    """Refuse a committed watermark kept for another column or type."""
    before = position.get("column")
    if before is not None and before != column:
        raise StateError(
            f"dataset {dataset!r} was read incrementally by column {before!r}, not {column!r}",
            hint=f"pass column={before!r}, or reset this dataset's state to switch columns",
        )
    before_type = position.get("type")
    if before_type is not None and before_type != wtype and position.get("high") is not None:
        raise StateError(
            f"watermark column {column!r} of dataset {dataset!r} was a {before_type} and is now a {wtype}",
            hint="cast the column back in the source, or reset this dataset's state",
        )


# --------------------------------------------------------------------------- kafka


def kafka_ranges(
    committed: Mapping[str, int],
    end_offsets: Mapping[Any, int],
    start_offsets: Mapping[Any, int],
    *,
    topic: str = "",
) -> tuple[dict[str, tuple[int, int]], list[str]]:
    """Per-partition ``[from, until)`` offset ranges of a bounded batch, and warnings.

    Args:
        committed: partition -> next offset to read, from the committed position.
        end_offsets: partition -> high-water mark at run start (exclusive end).
        start_offsets: partition -> earliest available offset (log start).
        topic: for messages only.

    Returns:
        ``(ranges, warnings)``; partitions absent from ``committed`` start at their earliest
        offset; a committed offset below the earliest (retention removed messages) starts at the
        earliest and is reported in ``warnings``.

    Raises:
        StateError: a committed offset lies beyond the partition's end (topic recreated?).
    """
    ranges: dict[str, tuple[int, int]] = {}
    warnings: list[str] = []
    starts = {str(int(k)): int(v) for k, v in start_offsets.items()}
    for part in sorted(end_offsets, key=int):
        key = str(int(part))
        end = int(end_offsets[part])
        start = starts.get(key, 0)
        frm = committed.get(key)
        if frm is None:
            frm = start
        elif frm > end:
            raise StateError(
                f"committed offset {frm} of {topic or 'topic'}[{key}] is beyond its end offset {end}",
                hint="the topic was probably deleted and recreated; reset this dataset's state",
            )
        elif frm < start:
            warnings.append(
                f"{topic or 'topic'}[{key}]: offsets {frm}..{start - 1} were deleted by retention "
                f"before they were read; reading from {start}"
            )
            frm = start
        ranges[key] = (int(frm), max(int(frm), end))
    missing = sorted(set(committed) - set(ranges), key=int)
    if missing:
        warnings.append(f"{topic or 'topic'}: committed partitions {', '.join(missing)} no longer exist")
    return ranges, warnings


def advance_kafka(
    position: Mapping[str, Any], topic: str, ranges: Mapping[str, Iterable[int]]
) -> dict[str, Any]:
    """The position after reading ``ranges`` (partition -> ``(from, until)``)."""
    offsets = {str(k): int(v) for k, v in (position.get("offsets") or {}).items()}
    for part, (_frm, until) in ranges.items():
        offsets[str(part)] = max(int(until), offsets.get(str(part), 0))
    ordered = dict(sorted(offsets.items(), key=lambda kv: int(kv[0])))
    return {"kind": "kafka", "topic": topic, "offsets": ordered}


def committed_offsets(position: Mapping[str, Any], topic: str, dataset: str) -> dict[str, int]:
    """The committed per-partition offsets, refusing a position kept for another topic."""
    before = position.get("topic")
    if before and before != topic:
        raise StateError(
            f"dataset {dataset!r} was read from topic {before!r}, now configured as {topic!r}",
            hint="restore the topic in nbpipe.yaml, or reset this dataset's state to start over",
        )
    return {str(k): int(v) for k, v in (position.get("offsets") or {}).items()}
