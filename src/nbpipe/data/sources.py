"""Locating and loading a dataset's source with Spark: files, formats, JDBC, explore-style frames."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbpipe.core.config import DatasetConfig, Project, inside
from nbpipe.core.contracts import (
    CORRUPT_COLUMN,
    Contract,
)
from nbpipe.core.layout import dataset_root
from nbpipe.data import links
from nbpipe.data.encoding import TEXT_FORMATS, codec, spark_options
from nbpipe.data.write import (
    struct_type,
)
from nbpipe.errors import DatasetError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession


JDBC_JAR = Path("/usr/share/java/postgresql.jar")
BOM = "\ufeff"
WHITE = " \t\r\n"
_BLANK_PROBE = 4096


@dataclass
class Source:
    base: Path | None
    files: list[Path] = field(default_factory=list)
    partition_cols: list[str] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(f.stat().st_size for f in self.files)

    def with_rows(self) -> Source:
        """The same source without the files that cannot hold a row (empty or blank text files)."""
        return Source(self.base, [f for f in self.files if not blank(f)], self.partition_cols)


def blank(path: Path) -> bool:
    """Whether a text file holds nothing but whitespace (an empty drop: no header, no rows).

    Reads only up to the first non-blank byte (the first 4 KiB of almost every file).
    """
    with open(path, "rb") as fh:
        chunk = fh.read(_BLANK_PROBE).removeprefix(BOM.encode())
        while chunk:
            if chunk.strip():
                return False
            chunk = fh.read(_BLANK_PROBE)
    return True


# --------------------------------------------------------------------------- locating inputs
def source_files(base: Path, name: str = "", cfg: DatasetConfig | None = None) -> list[Path]:
    """The data files of a dataset under ``base`` (see :mod:`nbpipe.data.links` for symlinks)."""
    return links.walk(base, name, cfg.follow_symlinks if cfg is not None else False)


def locate(project: Project, name: str, cfg: DatasetConfig, paths: list[str] | None) -> Source:
    if cfg.format == "jdbc":
        return Source(None)
    base = dataset_root(project, name, cfg)
    key = f"datasets.{name}.path" if cfg.path else f"the warehouse ({project.profile.warehouse})"
    if paths is None:
        if not base.exists():
            raise DatasetError(f"input of dataset {name!r} is missing: {base} does not exist (from {key})",
                               hint=f"land data there first, or fix {key} in nbpipe.yaml")
        files = source_files(base, name, cfg)
    else:
        files = []
        for p in paths:
            given = project.path(str(p))
            link = None if cfg.follow_symlinks else links.linked_part(given, base)
            if link is not None:
                raise links.refuse_link(name, link)
            resolved = inside(base, given, f"file of dataset {name!r}")
            if not resolved.exists():
                raise DatasetError(f"input file of dataset {name!r} is missing: {resolved}",
                                   hint=f"pass existing files under {base} ({key})")
            files.extend(source_files(resolved, name, cfg))
    parts: list[str] = []
    for f in files:
        for piece in f.relative_to(base).parts[:-1] if base.is_dir() else ():
            col = piece.split("=", 1)[0] if "=" in piece else None
            if col and col not in parts:
                parts.append(col)
    return Source(base, files, parts)


def reader_for(spark: SparkSession, cfg: DatasetConfig, src: Source, name: str) -> Any:
    reader = spark.read.format(cfg.format).options(**cfg.options)
    if cfg.format in TEXT_FORMATS:
        reader = reader.options(**spark_options(cfg, codec(name, cfg)))
    if src.base is not None and src.base.is_dir():
        reader = reader.option("basePath", str(src.base))
    if cfg.format == "jdbc":
        _jdbc_driver(spark, cfg)
        if cfg.options.get("url", "").startswith("jdbc:postgresql") and "driver" not in cfg.options:
            reader = reader.option("driver", "org.postgresql.Driver")
    return reader


_JARS_ADDED: set[int] = set()


def _jdbc_driver(spark: SparkSession, cfg: DatasetConfig) -> None:
    """Make Debian's PostgreSQL JDBC driver available to the session once (ADD JAR)."""
    if not cfg.options.get("url", "").startswith("jdbc:postgresql") or id(spark) in _JARS_ADDED:
        return
    if JDBC_JAR.is_file() and str(JDBC_JAR) not in (spark.conf.get("spark.jars", "") or ""):
        spark.sql(f"ADD JAR {JDBC_JAR}")
    _JARS_ADDED.add(id(spark))


def load(reader: Any, src: Source, name: str, cfg: DatasetConfig) -> DataFrame:
    try:
        return reader.load() if cfg.format == "jdbc" else reader.load([str(f) for f in src.files])
    except Exception as exc:
        where = mask_url(cfg.options.get("url", "")) if cfg.format == "jdbc" else str(src.base)
        raise DatasetError(
            f"cannot read dataset {name!r} ({cfg.format}) from {where}: {type(exc).__name__}: "
            f"{(str(exc).splitlines() or [''])[0][:300]}",
            hint=f"check datasets.{name}.format/options in nbpipe.yaml against the data",
        ) from exc


def mask_url(url: str) -> str:
    return url.split("?", 1)[0]



def flexible_frame(spark: SparkSession, name: str, cfg: DatasetConfig, src: Source,
                   override: Contract | None) -> DataFrame:
    """The source as explore mode sees it: inferred (or overridden) schema, permissive parsing."""
    reader = reader_for(spark, cfg, src, name)
    if cfg.format == "jdbc":
        return load(reader, src, name, cfg)
    if cfg.format in TEXT_FORMATS:
        src = src.with_rows()
    if not src.files:
        return spark.createDataFrame([], struct_type(override.fields() if override else []))
    if cfg.format in TEXT_FORMATS:
        reader = reader.option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", CORRUPT_COLUMN)
    if cfg.format == "csv" and "inferSchema" not in cfg.options:
        reader = reader.option("inferSchema", "true")
    if override is not None:
        extra = [{"name": CORRUPT_COLUMN, "type": "string"}] if cfg.format in ("csv", "json") else []
        return load(reader.schema(struct_type(override.fields() + extra)), src, name, cfg)
    if cfg.format == "csv":
        inferred = load(reader, src, name, cfg).schema
        fields = [{"name": f.name, "type": f.dataType.simpleString()} for f in inferred.fields]
        return load(reader.schema(struct_type([*fields, {"name": CORRUPT_COLUMN, "type": "string"}])), src, name, cfg)
    return load(reader, src, name, cfg)


def _first_line(path: Path, name: str, cfg: DatasetConfig, *, skip_blank: bool) -> str:
    """The first (non-blank) line of a text file in the dataset's encoding, without a byte-order mark.

    A CSV header must decode (it names the columns); a JSON line that does not is a data row, and its
    undecodable bytes are found and quarantined by the read (:mod:`nbpipe.data.encoding`).

    Raises:
        DatasetError: a CSV header is not valid text in the dataset's encoding.
    """
    encoding = codec(name, cfg)
    if encoding.startswith(("utf-16", "utf-32")):  # lines are not split at a newline byte
        with open(path, encoding=encoding, newline="", errors="replace") as text:
            lines: Iterator[tuple[str, int]] = ((line, 0) for line in text)
            return next((line.lstrip(BOM) for line, _ in lines if line.strip(BOM + WHITE) or not skip_blank), "")
    with open(path, "rb") as fh:
        for raw in fh:
            try:
                line = raw.decode(encoding)
            except UnicodeDecodeError as exc:
                if cfg.format == "csv":
                    raise DatasetError(
                        f"dataset {name!r}: the header of {path} is not valid {encoding} ({exc.reason} at byte "
                        f"{exc.start})",
                        hint=f"set datasets.{name}.encoding in nbpipe.yaml to the files' encoding (e.g. latin-1)",
                    ) from None
                line = raw.decode(encoding, errors="replace")
            if line.strip(BOM + WHITE) or not skip_blank:
                return line.lstrip(BOM)
    return ""


def header_of(path: Path, name: str, cfg: DatasetConfig) -> list[str]:
    """The header row of a CSV file (empty list for an empty file); a UTF-8 byte-order mark is dropped."""
    opts = {k.lower(): v for k, v in cfg.options.items()}
    sep = opts.get("sep", opts.get("delimiter", ","))
    quote = opts.get("quote", '"')
    line = _first_line(path, name, cfg, skip_blank=False)
    if not line.strip():
        return []
    return [c.strip() for c in next(csv.reader(io.StringIO(line), delimiter=sep, quotechar=quote or None))]


def first_json_keys(path: Path, name: str, cfg: DatasetConfig) -> list[str]:
    """Keys of the first JSON-lines record of a file (empty when unreadable)."""
    line = _first_line(path, name, cfg, skip_blank=True)
    try:
        value = json.loads(line) if line.strip() else None
    except ValueError:
        return []
    return list(value) if isinstance(value, dict) else []
