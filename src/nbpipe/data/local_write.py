"""The write path in process: Spark's write semantics on a small frame held as a pyarrow Table.

A small frame is materialized once (``df.toArrow()``) and nbpipe's own work on it — the primary-key
check, the combination with the rows already stored, the sorted Parquet write — runs here, with
pyarrow, instead of as a handful of Spark jobs. Every function gives what its Spark twin gives
(:func:`nbpipe.data.write_modes.split_key_violations`, :func:`~nbpipe.data.write_modes.existing_rows`,
:func:`~nbpipe.data.write_modes.combine`, ``nbpipe.data.write._write_files``): the same rows, the
same reasons, the same partition directories, files that Spark, pandas and DuckDB read back as
they read Spark's. Where identity cannot be guaranteed (a type, a partition value, a file Spark
would rebase), :func:`not_local` returns why, or a function raises :class:`NotLocal`, and the caller
takes the Spark path: nothing is approximated.

Spark semantics reproduced here:

* **Row equality** (``dropDuplicates``, ``subtract``, null-safe joins): nulls equal nulls, NaN equals
  NaN, ``-0.0`` equals ``0.0``. The outputs of ``dropDuplicates`` and ``subtract`` carry the
  *normalized* values (``-0.0`` becomes ``0.0``, every NaN the canonical NaN); a join keeps its
  side's values as they were (a merge stages ``-0.0`` as written).
* **Ordering** (``sortWithinPartitions``, ascending): nulls first, NaN after every number,
  ``-0.0`` ties with ``0.0``, strings by UTF-8 bytes, ``false`` before ``true``.
* **Partition directories**: ``escapePathName(column)=escapePathName(value)``, percent-escaping
  ``\\x01``-``\\x1f``, ``"#%'*/:=?[\\]^{`` and ``\\x7f`` as ``%XX``; a null *or empty string* value is
  ``__HIVE_DEFAULT_PARTITION__``; dates ``yyyy-MM-dd``; booleans ``true``/``false``.
* **Files**: one ``part-00000.parquet`` per partition directory without the partition columns,
  snappy, timestamps as INT96, footer key-value metadata ``org.apache.spark.version`` and
  ``org.apache.spark.sql.parquet.row.metadata`` (so Spark reads the same types, without rebasing);
  an empty frame writes one schema-only file when unpartitioned and nothing when partitioned.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbpipe.core.layout import REASON, hidden, list_files
from nbpipe.data.arrow_rows import codes, distinct, member, normalized
from nbpipe.data.staging import NULL_PARTITION

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from nbpipe.core.config import DatasetConfig

_INTEGERS = ("tinyint", "smallint", "int", "bigint")
_FLOATS = ("float", "double")
LOCAL_TYPES = frozenset({"boolean", *_INTEGERS, *_FLOATS, "string", "date", "timestamp"})
PARTITION_TYPES = frozenset({"boolean", *_INTEGERS, "string", "date"})
# Spark's ExternalCatalogUtils.charToEscape (not on Windows).
_ESCAPED = frozenset([chr(c) for c in range(0x01, 0x20)] + list("\"#%'*/:=?\\\x7f{[]^"))
# Footer keys Spark writes when it rebased dates/timestamps to the hybrid calendar on write.
_LEGACY_KEYS = (b"org.apache.spark.legacyDateTime", b"org.apache.spark.legacyINT96")


class NotLocal(Exception):
    """This input cannot take the in-process path with results identical to Spark's (``reason`` says why)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------- the decision
def not_local(fields: list[dict[str, Any]], fmt: str, partition_by: list[str]) -> str | None:
    """Why a write of a frame with ``fields`` cannot take the in-process path; None when it can.

    Args:
        fields: ``[{name, type (Spark simpleString), nullable}]`` (``nbpipe.data.write.frame_fields``).
        fmt: the dataset's format.
        partition_by: the partition columns.
    """
    if fmt != "parquet":
        return f"format {fmt} (only parquet is written in process)"
    if not fields:
        return "the frame has no columns"
    names = [f["name"] for f in fields]
    folded = [n.lower() for n in names]
    clashing = sorted({n for n, low in zip(names, folded, strict=True) if folded.count(low) > 1})
    if clashing:
        return f"column names {', '.join(clashing)} differ only in case"
    for f in fields:
        if f["type"] not in LOCAL_TYPES:
            return f"column {f['name']} has type {f['type']}"
    kinds = {f["name"]: f["type"] for f in fields}
    for column in partition_by:
        if column not in kinds:
            return f"partition column {column} is not in the frame"
        if kinds[column] not in PARTITION_TYPES:
            return f"partition column {column} has type {kinds[column]}"
    if len(set(partition_by)) == len(names):
        return "every column is a partition column"
    return None


def _with_reason(table: pa.Table, reasons: pa.Array) -> pa.Table:
    import pyarrow as pa

    return table.append_column(pa.field(REASON, pa.string(), nullable=False), reasons)


# --------------------------------------------------------------------------- primary key, write modes
def split_key_violations(table: pa.Table, keys: list[str]) -> tuple[pa.Table, pa.Table]:
    """The rows with a unique, non-null primary key and the others (with ``_nbpipe_reason``).

    As :func:`nbpipe.data.write_modes.split_key_violations`: identical rows count once (floats
    normalized), every row of a key that several different rows share is rejected, as is every
    row with a null in a key column.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rows = distinct(table)
    listed = ", ".join(keys)
    if rows.num_rows == 0:
        return rows, _with_reason(rows, pa.array([], pa.string()))
    (key_codes,) = codes([rows], keys)
    values = key_codes.to_numpy()
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    shared = counts[inverse]
    null_key = np.zeros(rows.num_rows, dtype=bool)
    for k in keys:
        null_key |= pc.is_null(rows.column(k)).to_numpy(zero_copy_only=False)
    bad = null_key | (shared > 1)
    reasons = [f"null in primary key ({listed})" if null_key[i] else
               f"duplicate primary key ({listed}): {shared[i]} rows in this write share it with different values"
               for i in np.flatnonzero(bad)]
    good = rows.filter(pa.array(~bad))
    rejected = _with_reason(rows.filter(pa.array(bad)), pa.array(reasons, pa.string()))
    return good, rejected


def combine(batch: pa.Table, existing: pa.Table | None, mode: str,
            keys: list[str]) -> tuple[pa.Table, pa.Table | None]:
    """What to stage for ``mode`` (merge or append) and the written rows rejected by the key (append).

    As :func:`nbpipe.data.write_modes.combine`.

    Returns:
        ``(rows to stage, rejected rows with _nbpipe_reason or None)``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if existing is None:
        return (batch if keys else distinct(batch)), None
    existing = existing.select(batch.column_names).cast(batch.schema)
    if mode == "merge":
        kept = existing.filter(pc.invert(member(existing, batch, keys)))
        return pa.concat_tables([kept, batch]), None
    new = distinct(batch.filter(pc.invert(member(batch, existing, batch.column_names))))  # EXCEPT DISTINCT
    if not keys:
        return distinct(pa.concat_tables([existing, new])), None
    stored = member(new, existing, keys)
    clash = new.filter(stored)
    fresh = new.filter(pc.invert(stored))
    reason = f"duplicate primary key ({', '.join(keys)}): already stored with different values (write mode append)"
    return pa.concat_tables([existing, fresh]), _with_reason(clash, pa.array([reason] * clash.num_rows, pa.string()))


# --------------------------------------------------------------------------- partition directories
def escape_path_name(text: str) -> str:
    """Spark's ``ExternalCatalogUtils.escapePathName``."""
    return "".join(f"%{ord(c):02X}" if c in _ESCAPED else c for c in text)


def unescape_path_name(text: str) -> str:
    """Spark's ``ExternalCatalogUtils.unescapePathName``: ``%XX`` with two hex digits is the character."""
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "%" and _is_hex(text[i + 1:i + 3]):
            out.append(chr(int(text[i + 1:i + 3], 16)))
            i += 3
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _is_hex(pair: str) -> bool:
    return len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair)


def partition_text(value: Any, kind: str, column: str) -> str:
    """The directory value Spark names for ``value`` of the Spark type ``kind`` (escaped).

    Raises:
        NotLocal: a value whose name is not reproduced exactly (a NUL character, a date out of range).
    """
    import datetime as dt

    if value is None or value == "":
        return NULL_PARTITION
    if kind == "boolean":
        return "true" if value else "false"
    if kind in _INTEGERS:
        return str(int(value))
    if kind == "date" and isinstance(value, dt.date):
        return value.isoformat()
    if kind == "string" and isinstance(value, str):
        if "\x00" in value:
            raise NotLocal(f"partition column {column} has a value with a NUL character")
        return escape_path_name(value)
    raise NotLocal(f"partition column {column} of type {kind} has a value ({value!r}) not named locally")


def parse_partition(text: str, kind: str, column: str) -> Any:
    """The value of a ``column=text`` directory read with the Spark type ``kind`` (None: null)."""
    import datetime as dt

    if text == NULL_PARTITION:
        return None
    raw = unescape_path_name(text)
    try:
        if kind == "boolean" and raw in ("true", "false"):
            return raw == "true"
        if kind in _INTEGERS and raw.lstrip("-").isdigit() and str(int(raw)) == raw:
            return int(raw)
        if kind == "date" and len(raw) == 10:
            return dt.date.fromisoformat(raw)
    except ValueError:
        pass
    if kind == "string":
        return raw
    raise NotLocal(f"directory {column}={text} is not a {kind} value named as Spark names it")


def _spark_type(table: pa.Table, column: str) -> str:
    import pyarrow as pa

    t = table.schema.field(column).type
    for check, name in ((pa.types.is_boolean, "boolean"), (pa.types.is_int8, "tinyint"),
                        (pa.types.is_int16, "smallint"), (pa.types.is_int32, "int"), (pa.types.is_int64, "bigint"),
                        (pa.types.is_date32, "date"), (pa.types.is_string, "string"),
                        (pa.types.is_large_string, "string")):
        if check(t):
            return name
    raise NotLocal(f"partition column {column} has arrow type {t}")


def _values(table: pa.Table, column: str) -> list[Any]:
    """A partition column's values as Python values (a date past year 9999 has no name here)."""
    try:
        return table.column(column).to_pylist()
    except (ValueError, OverflowError) as exc:
        raise NotLocal(f"partition column {column} has a value Python cannot represent ({exc})") from exc


def _unit_names(table: pa.Table, partition_by: list[str]) -> list[str]:
    """Each row's partition directory (``a=1/b=x``)."""
    columns = [(c, _spark_type(table, c), _values(table, c)) for c in partition_by]
    pieces = [[f"{escape_path_name(c)}={partition_text(v, kind, c)}" for v in values] for c, kind, values in columns]
    return ["/".join(parts) for parts in zip(*pieces, strict=True)] if pieces else [""] * table.num_rows


# --------------------------------------------------------------------------- existing rows
def existing_rows(cfg: DatasetConfig, staged_root: Path, live_root: Path | None, fields: list[dict[str, Any]],
                  partition_by: list[str], batch: pa.Table) -> pa.Table | None:
    """The rows the write combines with: per touched unit, what this run staged, else what is published.

    As :func:`nbpipe.data.write_modes.existing_rows`, read with pyarrow and cast to ``batch``'s schema.
    ``fields`` are the write's ``[{name, type, nullable}]``; ``live_root`` is None when the write
    goes straight to its destination (the explore sandbox).

    Raises:
        NotLocal: a stored file that pyarrow would not read as Spark does.
    """
    import pyarrow as pa

    if cfg.format != "parquet":
        raise NotLocal(f"format {cfg.format}")
    kinds = {f["name"]: f["type"] for f in fields}
    staged = _stored_units(staged_root, partition_by, kinds)
    live = _stored_units(live_root, partition_by, kinds) if live_root is not None else {}
    if staged and live:
        live = {} if not partition_by else {v: files for v, files in live.items() if v not in staged}
    units = {**live, **staged}
    if not units:
        return None
    if partition_by:
        touched = set(zip(*[_values(batch, c) for c in partition_by], strict=True))
        units = {v: files for v, files in units.items() if v in touched}
    tables = [_read_unit(files, dict(zip(partition_by, values, strict=True)), batch.schema)
              for values, files in sorted(units.items(), key=lambda kv: [str(f) for f in kv[1]])]
    return pa.concat_tables(tables) if tables else batch.schema.empty_table()


def _stored_units(root: Path, partition_by: list[str], kinds: dict[str, str]) -> dict[tuple[Any, ...], list[Path]]:
    """The data files under ``root`` by partition values (``()`` for an unpartitioned dataset)."""
    if not root.is_dir():
        return {}
    units: dict[tuple[Any, ...], list[Path]] = {}
    for relative in sorted(list_files(root)):
        path = Path(relative)
        if any(hidden(part) for part in path.parts):
            continue
        dirs = path.parts[:-1]
        if len(dirs) != len(partition_by):
            raise NotLocal(f"{root / relative} is not laid out as partitions {', '.join(partition_by) or '(none)'}")
        values = []
        for column, piece in zip(partition_by, dirs, strict=True):
            name, sep, text = piece.partition("=")
            if not sep or unescape_path_name(name) != column:
                raise NotLocal(f"directory {piece} under {root} is not a {column}=value directory")
            values.append(parse_partition(text, kinds[column], column))
        units.setdefault(tuple(values), []).append(root / relative)
    return units


def _read_unit(files: list[Path], values: dict[str, Any], schema: pa.Schema) -> pa.Table:
    """The rows of one unit's files with ``schema``: partition columns from ``values``, absent columns null."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    for path in files:
        if path.suffix != ".parquet":
            raise NotLocal(f"{path} is not a Parquet file")
        meta = pq.read_metadata(path).metadata or {}
        legacy = [k.decode() for k in _LEGACY_KEYS if k in meta]
        if legacy:
            raise NotLocal(f"{path} was written with {legacy[0]} (Spark rebases its values)")
        data = pq.read_table(path, coerce_int96_timestamp_unit="us", use_threads=False)
        columns = []
        for field in schema:
            if field.name in values:
                columns.append(pa.array([values[field.name]] * data.num_rows, field.type))
            elif field.name in data.column_names:
                columns.append(_as_type(data.column(field.name), field.type, path))
            elif field.name.lower() in [n.lower() for n in data.column_names]:
                raise NotLocal(f"{path} names column {field.name} in another case")
            else:
                columns.append(pa.nulls(data.num_rows, field.type))
        tables.append(pa.table(columns, schema=pa.schema([pa.field(f.name, f.type) for f in schema])))
    return pa.concat_tables(tables).cast(schema) if tables else schema.empty_table()


def _as_type(column: pa.ChunkedArray, target: pa.DataType, path: Path) -> pa.ChunkedArray:
    """A stored column as ``target``: the same type, a timestamp (INT96 reads naive, in UTC) or a widened int."""
    import pyarrow as pa

    have = column.type
    if have == target:
        return column
    if pa.types.is_timestamp(have) and pa.types.is_timestamp(target) and have.unit == target.unit:
        return column.cast(target)  # a naive INT96 value is the UTC instant: the cast keeps the value
    strings = (pa.string(), pa.large_string())
    if have in strings and target in strings:
        return column.cast(target)
    widening = [pa.int8(), pa.int16(), pa.int32(), pa.int64()]
    if have in widening and target in widening and widening.index(have) <= widening.index(target):
        return column.cast(target)
    raise NotLocal(f"{path} stores a column as {have}, not {target}")


# --------------------------------------------------------------------------- files
def sort_indices(table: pa.Table, first: list[str]) -> pa.Array:
    """Row order: ``first`` ascending as Spark sorts, then every other column, then the sign of zeros.

    Spark's order: nulls first, NaN after every number, ``-0.0`` tied with ``0.0``, strings by UTF-8
    bytes. The remaining columns (and last the sign of each float zero) make the order total, so
    the written bytes do not depend on the input's order.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = [*first, *[c for c in table.column_names if c not in first]]
    keys: list[tuple[str, str]] = []
    arrays: dict[str, Any] = {}

    def add(array: Any) -> None:
        name = f"k{len(arrays)}"
        arrays[name] = array
        keys.append((name, "ascending"))

    bits = []
    for column in columns:
        values = table.column(column)
        add(pc.is_valid(values))  # false (null) first
        if pa.types.is_floating(values.type):
            nan = pc.fill_null(pc.is_nan(values), False)
            add(nan)
            add(pc.fill_null(pc.if_else(nan, pa.scalar(0.0, values.type), normalized(values)), 0.0))
            raw = pc.fill_null(values, 0.0).to_numpy(zero_copy_only=False)
            bits.append(raw.view(np.int64 if raw.dtype == np.float64 else np.int32))
        else:
            add(values)
    for raw_bits in bits:  # the sign of a zero and a NaN's payload: ties for Spark, different bytes
        add(pa.array(raw_bits))
    if not arrays:
        return pa.array(range(table.num_rows), pa.int64())
    return pc.sort_indices(pa.table(arrays), sort_keys=keys)  # nulls: ordered by the validity keys


def _file_schema(table: pa.Table, spark_schema_json: str, partition_by: list[str]) -> tuple[pa.Schema, str]:
    """The arrow schema of a file's columns (nullability and Spark metadata from the Spark schema)."""
    import pyarrow as pa

    struct = json.loads(spark_schema_json)
    spark_fields = [f for f in struct.get("fields", []) if f["name"] not in partition_by]
    data = [c for c in table.column_names if c not in partition_by]
    if [f["name"] for f in spark_fields] != data:
        raise ValueError(f"the Spark schema names {[f['name'] for f in spark_fields]}, the table's file columns "
                         f"are {data}")
    fields = []
    for spark_field in spark_fields:
        name = spark_field["name"]
        kind = table.schema.field(name).type
        if pa.types.is_timestamp(kind) and kind.tz is None:
            raise NotLocal(f"column {name} is a timestamp without a time zone")
        if not spark_field["nullable"] and table.column(name).null_count:
            raise NotLocal(f"column {name} is not nullable and has nulls")
        fields.append(pa.field(name, kind, nullable=bool(spark_field["nullable"])))
    in_spark_order = [{key: f[key] for key in ("name", "type", "nullable", "metadata")} for f in spark_fields]
    row_metadata = json.dumps({"type": "struct", "fields": in_spark_order}, separators=(",", ":"), ensure_ascii=False)
    return pa.schema(fields), row_metadata


def write_files(table: pa.Table, tmp: Path, partition_by: list[str], sort_cols: list[str],
                spark_schema_json: str) -> list[str]:
    """Write ``table`` as Parquet under ``tmp`` as ``nbpipe.data.write._write_files`` does; return the units.

    One ``part-00000.parquet`` per partition directory (``col=value`` as Spark names it; partition
    columns not in the file), rows sorted by ``[*partition_by, *sort_cols]`` as Spark sorts them
    (then by the other columns), snappy, timestamps as INT96, Spark's footer metadata. The same rows
    give the same bytes, in any input order.

    Args:
        table: the rows (as ``df.toArrow()`` gives them: timestamps with a UTC zone, dates as date32).
        tmp: the directory to write (created; expected absent or empty).
        partition_by: the partition columns.
        sort_cols: the sort columns after the partition columns.
        spark_schema_json: the Spark StructType json of the frame (``df.schema.json()``); partition
            columns in it are left out of the files' metadata.

    Returns:
        The leaf units: ``[""]`` when unpartitioned, else e.g. ``["flight_date=2013-01-02"]``;
        ``[]`` for an empty partitioned table (Spark writes no file then).

    Raises:
        NotLocal: a value or column this function cannot write as Spark would.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    import pyspark

    schema, row_metadata = _file_schema(table, spark_schema_json, partition_by)
    metadata = {"org.apache.spark.version": pyspark.__version__,
                "org.apache.spark.sql.parquet.row.metadata": row_metadata}
    if table.num_rows:
        table = table.take(sort_indices(table, [*partition_by, *[c for c in sort_cols if c not in partition_by]]))
    names = _unit_names(table, partition_by)
    tmp.mkdir(parents=True, exist_ok=True)
    if not table.num_rows and partition_by:
        return []
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(names):  # in sorted order; "" and null share a directory, not always adjacent
        groups.setdefault(name, []).append(i)
    if not table.num_rows:
        groups[""] = []
    units = []
    for unit, indices in groups.items():
        rows = table.take(pa.array(indices, pa.int64())).select(schema.names)
        directory = tmp / unit if unit else tmp
        directory.mkdir(parents=True, exist_ok=True)
        with pq.ParquetWriter(directory / "part-00000.parquet", schema, compression="snappy",
                              use_deprecated_int96_timestamps=True, store_schema=False) as writer:
            if rows.num_rows:  # Spark's file for an empty frame has no row group either
                writer.write_table(pa.Table.from_arrays(rows.columns, schema=schema))
            writer.add_key_value_metadata(metadata)  # store_schema=False drops the schema's own metadata
        units.append(directory)
    return [d.relative_to(tmp).as_posix() if d != tmp else "" for d in sorted(units)]
