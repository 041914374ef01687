"""Small frames: materialize once as Arrow, then do nbpipe's own work on them in-process.

nbpipe's production work on a frame (the quality gate, primary-key quarantine, merge/append with
the stored rows, the sorted staged Parquet write) is a fixed number of Spark jobs per call, each
costing a fraction of a second whatever the frame's size. On a small frame that overhead is the
whole cost. So ``ctx.check`` and ``ctx.write`` first ask :func:`materialize`:

* in a production run, a frame already materialized (by an earlier check or write of the same
  frame object, or the passing rows a check produced) is reused: no Spark job (explore mode reads
  it again: files may change between cells);
* a frame whose input files add up to more than ``spark.small_frame_input_mb`` stays on Spark
  without being touched (no probe);
* otherwise one Spark job collects at most ``spark.small_frame_rows + 1`` rows as Arrow
  (``df.limit(n + 1).toArrow()``, classic and Spark Connect alike). Up to the threshold the table
  is the whole frame, and the operation runs in-process on it (:mod:`nbpipe.quality.fast_arrow`,
  :mod:`nbpipe.data.local_write`); above it the frame stays on the one-pass Spark path, having cost
  one bounded job.

Both paths give the same results (tests compare them on generated frames). Each operation records
which path it took and why (:class:`Engine`, in the ``check``/``dataset_staged`` events and the run
record). ``small_frame_rows: 0`` turns the local path off.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa
    from pyspark.sql import DataFrame

    from nbpipe.core.protocol import RunScope

LOCAL = "local"
SPARK = "spark"
_CACHE_SIZE = 8  # frames remembered per kernel (each at most small_frame_rows rows)


@dataclass(frozen=True)
class Materialized:
    """A whole frame as an Arrow table, with the Spark schema it came from."""

    table: pa.Table
    spark_types: dict[str, str]  # df.dtypes
    schema_json: str  # the Spark StructType as JSON

    @property
    def rows(self) -> int:
        return int(self.table.num_rows)


@dataclass(frozen=True)
class Engine:
    """Which path an operation took, why, and the threshold it was judged against (for the record)."""

    path: str  # local | spark
    reason: str
    rows: int | None = None
    threshold_rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Cache:
    """The last few materialized frames, by frame object (kept alive so their ids stay theirs)."""

    def __init__(self) -> None:
        self._items: OrderedDict[int, tuple[Any, Materialized]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, df: Any) -> Materialized | None:
        with self._lock:
            item = self._items.get(id(df))
            if item is None or item[0] is not df:
                return None
            self._items.move_to_end(id(df))
            return item[1]

    def put(self, df: Any, value: Materialized) -> None:
        with self._lock:
            self._items[id(df)] = (df, value)
            self._items.move_to_end(id(df))
            while len(self._items) > _CACHE_SIZE:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_cache = _Cache()


def thresholds(ctx: RunScope) -> tuple[int, float]:
    """``(small_frame_rows, small_frame_input_mb)`` of the active profile."""
    spark = ctx.project.profile.spark
    return spark.small_frame_rows, spark.small_frame_input_mb


def remember(df: DataFrame, table: pa.Table, like: Materialized) -> Materialized:
    """Record ``table`` as the whole content of ``df`` (same schema as ``like``'s frame)."""
    value = Materialized(table=table, spark_types=like.spark_types, schema_json=like.schema_json)
    _cache.put(df, value)
    return value


def cached(ctx: RunScope, df: Any) -> Materialized | None:
    """The materialization of ``df`` if one is remembered and may be reused (no Spark job).

    Only a production run reuses one: its inputs are fixed for the run (committed files, its own
    staging). In explore mode a frame object lives across cells while a person changes the files
    under it, so every check or write there reads the frame again.
    """
    return _cache.get(df) if ctx.is_prod else None


def forget_all() -> None:
    """Drop every remembered frame (tests; a notebook that changes its session)."""
    _cache.clear()


def input_bytes(df: DataFrame) -> int | None:
    """The size of the files ``df`` reads, or None when unknown (no files, or not on this machine)."""
    try:
        files = df.inputFiles()
    except Exception:  # a source without files (range, JDBC, local rows): unknown
        return None
    if not files:
        return None
    total = 0
    for uri in files:
        parsed = urlparse(uri)
        if parsed.scheme not in ("", "file"):
            return None
        try:
            total += Path(unquote(parsed.path)).stat().st_size
        except OSError:
            return None
    return total


def materialize(ctx: RunScope, df: DataFrame) -> tuple[Materialized | None, Engine]:
    """The whole of ``df`` as Arrow when it is small (one bounded Spark job at most), and why or why not."""
    max_rows, max_input_mb = thresholds(ctx)
    if max_rows <= 0:
        return None, Engine(SPARK, "the local path is off (spark.small_frame_rows: 0)", None, max_rows)
    found = cached(ctx, df)
    if found is not None:
        return found, Engine(LOCAL, "materialized earlier in this run (no Spark job)", found.rows, max_rows)
    size = input_bytes(df)
    if size is not None and size > max_input_mb * 1024 * 1024:
        return None, Engine(SPARK, f"its input files hold {size / 1024 / 1024:.1f} MB, over "
                                   f"spark.small_frame_input_mb ({max_input_mb:g})", None, max_rows)
    try:
        table = df.limit(max_rows + 1).toArrow()
    except Exception as exc:  # a type Arrow does not hold (calendar intervals, variants, UDTs), or the frame fails
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        return None, Engine(SPARK, f"it could not be collected as Arrow ({first})", None, max_rows)
    if table.num_rows > max_rows:
        return None, Engine(SPARK, f"more than spark.small_frame_rows ({max_rows}) rows", None, max_rows)
    value = Materialized(table=table, spark_types=dict(df.dtypes), schema_json=df.schema.json())
    _cache.put(df, value)
    return value, Engine(LOCAL, f"{value.rows} rows, at most spark.small_frame_rows ({max_rows})", value.rows, max_rows)
