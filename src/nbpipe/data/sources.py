"""Locating and loading a dataset's source with Spark: files, formats, JDBC, explore-style frames."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbpipe.core.config import DatasetConfig, Project, inside
from nbpipe.core.contracts import (
    CORRUPT_COLUMN,
    Contract,
)
from nbpipe.core.layout import dataset_root, hidden
from nbpipe.data.write import (
    struct_type,
)
from nbpipe.errors import DatasetError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession


JDBC_JAR = Path("/usr/share/java/postgresql.jar")



@dataclass
class Source:
    base: Path | None
    files: list[Path] = field(default_factory=list)
    partition_cols: list[str] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(f.stat().st_size for f in self.files)


# --------------------------------------------------------------------------- locating inputs
def source_files(base: Path) -> list[Path]:
    if base.is_file():
        return [base]
    out = []
    for path in sorted(base.rglob("*")):
        rel = path.relative_to(base).parts
        if path.is_file() and not any(hidden(p) for p in rel):
            out.append(path)
    return out


def locate(project: Project, name: str, cfg: DatasetConfig, paths: list[str] | None) -> Source:
    if cfg.format == "jdbc":
        return Source(None)
    base = dataset_root(project, name, cfg)
    key = f"datasets.{name}.path" if cfg.path else f"the warehouse ({project.profile.warehouse})"
    if paths is None:
        if not base.exists():
            raise DatasetError(f"input of dataset {name!r} is missing: {base} does not exist (from {key})",
                               hint=f"land data there first, or fix {key} in nbpipe.yaml")
        files = source_files(base)
    else:
        files = []
        for p in paths:
            resolved = inside(base, project.path(str(p)), f"file of dataset {name!r}")
            if not resolved.exists():
                raise DatasetError(f"input file of dataset {name!r} is missing: {resolved}",
                                   hint=f"pass existing files under {base} ({key})")
            files.extend(source_files(resolved))
    parts: list[str] = []
    for f in files:
        for piece in f.relative_to(base).parts[:-1] if base.is_dir() else ():
            col = piece.split("=", 1)[0] if "=" in piece else None
            if col and col not in parts:
                parts.append(col)
    return Source(base, files, parts)


def reader_for(spark: SparkSession, cfg: DatasetConfig, src: Source) -> Any:
    reader = spark.read.format(cfg.format).options(**cfg.options)
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
    reader = reader_for(spark, cfg, src)
    if cfg.format == "jdbc":
        return load(reader, src, name, cfg)
    if not src.files:
        return spark.createDataFrame([], struct_type(override.fields() if override else []))
    if cfg.format in ("csv", "json"):
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


def header_of(path: Path, options: dict[str, str]) -> list[str]:
    """The header row of a CSV file (empty list for an empty file)."""
    opts = {k.lower(): v for k, v in options.items()}
    sep = opts.get("sep", opts.get("delimiter", ","))
    quote = opts.get("quote", '"')
    with open(path, encoding=opts.get("encoding", opts.get("charset", "utf-8")), errors="replace", newline="") as fh:
        line = fh.readline()
    if not line.strip():
        return []
    return [c.strip() for c in next(csv.reader(io.StringIO(line), delimiter=sep, quotechar=quote or None))]


def first_json_keys(path: Path) -> list[str]:
    """Keys of the first JSON-lines record of a file (empty when unreadable)."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.strip():
                try:
                    value = json.loads(line)
                except ValueError:
                    return []
                return list(value) if isinstance(value, dict) else []
    return []
