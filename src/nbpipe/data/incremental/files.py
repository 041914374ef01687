"""Incremental reads by files: the files under a dataset's root that no successful run has read."""

from __future__ import annotations

import csv
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbpipe.core.config import DatasetConfig
from nbpipe.core.contracts import find_contract
from nbpipe.core.layout import Listing
from nbpipe.core.manifest import read_manifest
from nbpipe.data import links
from nbpipe.data.encoding import TEXT_FORMATS, codec, spark_options, undecodable_files
from nbpipe.data.incremental import positions as state
from nbpipe.data.incremental._common import Batch, emit_read, resume_part, source_root
from nbpipe.data.sources import blank
from nbpipe.data.write import struct_type
from nbpipe.errors import BadRowsError, DatasetError, StateError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

    from nbpipe.core.protocol import RunScope

log = logging.getLogger(__name__)


def committed_only(root: Path, listing: Listing) -> Listing:
    """``listing`` without the files of a publish that has not committed (a dataset nbpipe publishes).

    A warehouse dataset read incrementally by a downstream pipeline has a commit manifest: only the
    files it lists, as they were committed (size and mtime), are offered; files of a publish still
    running, or killed before its commit, wait for the commit. Folders without a manifest (landing
    zones) are offered as listed.
    """
    manifest = read_manifest(root) if root.is_dir() else None
    if manifest is None:
        return listing
    committed: dict[str, Any] = {}
    for unit, entry in (manifest.get("units") or {}).items():
        for file, meta in (entry.get("files") or {}).items():
            committed[f"{unit}/{file}" if unit else file] = meta
    return {path: meta for path, meta in listing.items()
            if path in committed and (meta["size"], meta["mtime_ns"]) ==
            (committed[path].get("size"), committed[path].get("mtime_ns"))}


def read_files(
    ctx: RunScope,
    name: str,
    cfg: DatasetConfig,
    position: dict[str, Any],
    max_files: int | None,
    resume: Mapping[str, Any] | None,
    backfill_day: str | None = None,
) -> Batch:
    """The files no successful run has read (or, in a backfill, the files of its day); see the package."""
    root = source_root(ctx, name, cfg)
    listing = committed_only(root, links.listing(root, name, cfg.follow_symlinks))
    warnings: list[str] = []
    previous = resume_part(resume, "files", name)
    if backfill_day is not None:
        chosen = day_files(name, root, listing, backfill_day)
        if not chosen:
            warnings.append(f"backfill day {backfill_day}: no file of dataset {name!r} lies in a partition of that day")
        new_position, changed = dict(position), []
    elif previous is not None:
        chosen = [f["path"] for f in previous["snapshot"].get("files", [])]
        missing = [p for p in chosen if p not in listing]
        if missing:
            raise StateError(
                f"cannot resume dataset {name!r}: {len(missing)} file(s) the failed run read are gone "
                f"(first: {missing[0]})",
                hint="restore the files, or start a fresh run without --resume",
            )
        recorded = {f["path"]: f for f in previous["snapshot"]["files"]}
        for p in chosen:
            if (listing[p]["size"], listing[p]["mtime_ns"]) != (recorded[p]["size"], recorded[p]["mtime_ns"]):
                warnings.append(f"file {p} changed since the failed run read it; reading its current content")
        new_position = dict(previous["position"])
        changed = list(previous["snapshot"].get("changed", []))
    else:
        to_read, changed = state.new_files(listing, position)
        chosen = state.limit_files(to_read, max_files)
        changed = [p for p in changed if p in set(chosen)]
        for p in changed:
            warnings.append(f"file {p} changed since it was read (size/mtime differ); re-reading it")
        new_position = state.advance_files(position, {p: listing[p] for p in chosen})
        if len(chosen) < len(to_read):
            left = len(to_read) - len(chosen)
            warnings.append(f"max_files={max_files}: {left} new file(s) left for later runs")
    paths = [str(root / p) if root.is_dir() else str(root) for p in chosen]
    contract = find_contract(ctx.project, name)
    if chosen and contract is not None:
        # A contracted dataset: the catalog enforces it (prod: strict schema, quarantine) and its
        # one pass over the new files also counts them; it emits the dataset_read event.
        from nbpipe.data.read import read_with_event

        df, event = read_with_event(ctx, name, paths=paths, incremental="files")
        rows = int(event.get("rows") or 0)
    elif contract is not None:
        # Nothing new: the batch still has the contract's schema, so what the notebook derives from
        # it (and writes) is typed exactly as in a run with new files.
        df, rows = ctx.spark.createDataFrame([], struct_type(contract.fields())), 0
        emit_read(ctx, name, rows, str(root), "files")
    else:
        if chosen:
            df = read_paths(ctx, name, cfg, root, paths)
            rows = int(df.count())
        else:
            df = _empty_like(ctx, name, cfg, root, listing)
            rows = 0
        emit_read(ctx, name, rows, str(root), "files")
    snapshot = {
        "root": str(root),
        "files": [{"path": p, **listing[p]} for p in chosen],
        "changed": changed,
    }
    return Batch(df, "files", new_position, snapshot, rows, warnings)


def read_paths(ctx: RunScope, name: str, cfg: DatasetConfig, root: Path, paths: list[str]) -> DataFrame:
    """Read exactly ``paths`` of a file dataset without a contract, keeping partition columns (``basePath``).

    The files are read as configured (``options``), as the notebook wants them: a raw landing zone
    read as text is parsed by the notebook itself. Datasets with a contract go through the catalog.
    """
    reader = ctx.spark.read.format(cfg.format).options(**cfg.options)
    if cfg.format in TEXT_FORMATS:
        encoding = codec(name, cfg)
        reader = reader.options(**spark_options(cfg, encoding))
        bad = undecodable_files([Path(p) for p in paths], encoding)
        if bad:
            # Without a contract there is no quarantine: Spark would put U+FFFD in place of the bytes.
            raise BadRowsError(
                f"dataset {name!r}: {sum(u.lines for u in bad)} line(s) in {len(bad)} new file(s) hold bytes that "
                f"are not valid {encoding}: " + "; ".join(u.describe() for u in bad[:3]),
                hint=f"set datasets.{name}.encoding in nbpipe.yaml to the files' real encoding (e.g. latin-1), fix "
                f"the files, or give {name} a contract so that such rows are quarantined")
        paths = [p for p in paths if not blank(Path(p))] or paths[:1]
    if root.is_dir():
        reader = reader.option("basePath", str(root))
    header = _csv_string_schema(cfg, Path(paths[0])) if paths else None
    if header is not None:
        reader = reader.schema(header)  # what Spark would derive, without its header-reading job
    try:
        return reader.load(paths)
    except Exception as exc:
        raise DatasetError(
            f"cannot read {len(paths)} new file(s) of dataset {name!r} under {root}: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
            hint=f"check datasets.{name}.format/options in nbpipe.yaml against the files",
        ) from exc


def _csv_string_schema(cfg: DatasetConfig, first: Path) -> str | None:
    """The all-string schema Spark gives a headed CSV without ``inferSchema``, read from ``first`` in Python.

    None (let Spark read the header itself) whenever Spark might name the columns differently:
    schema inference, an empty, padded, duplicate or BOM-prefixed name, or an unusual encoding.
    """
    opts = {k.lower(): str(v) for k, v in cfg.options.items()}
    if (cfg.format != "csv" or opts.get("header", "").lower() != "true"
            or opts.get("inferschema", "false").lower() != "false" or "schema" in opts
            or opts.get("encoding", opts.get("charset", "utf-8")).lower() not in ("utf-8", "utf8")):
        return None
    sep = opts.get("sep", opts.get("delimiter", ","))
    quote = opts.get("quote", '"')
    try:
        with open(first, encoding="utf-8", newline="") as fh:
            line = fh.readline()
        names = next(csv.reader([line.rstrip("\r\n")], delimiter=sep, quotechar=quote or None))
    except (OSError, UnicodeDecodeError, StopIteration, csv.Error, TypeError):
        return None
    if (not names or line.startswith("\ufeff") or any(not n or n != n.strip() or "`" in n for n in names)
            or len({n.lower() for n in names}) != len(names)):
        return None
    return ", ".join(f"`{n}` string" for n in names)


def day_files(name: str, root: Path, listing: Listing, day: str) -> list[str]:
    """The listed files in a partition of ``day`` (a ``<column>=<day>`` directory), in path order.

    Raises:
        DatasetError: the dataset has no partition directories at all, so it has no days to re-read.
    """
    partitioned = [p for p in listing if any("=" in part for part in p.split("/")[:-1])]
    if listing and not partitioned:
        raise DatasetError(
            f"backfill day {day}: dataset {name!r} under {root} has no partition directories "
            "(<column>=<day>), so ctx.incremental cannot tell which files hold that day",
            hint="land the files in day partitions (e.g. date=YYYY-MM-DD/), or read the day in the notebook "
            f"with ctx.read({name!r}, paths=[...]) and run it with `nbpipe run PIPELINE -p run_date=...`",
        )
    return sorted(p for p in partitioned if any(part.split("=", 1)[1] == day for part in p.split("/")[:-1]
                                                if "=" in part))


def _empty_like(
    ctx: RunScope, name: str, cfg: DatasetConfig, root: Path, listing: Listing
) -> DataFrame:
    """No new files: an empty frame with the schema of the newest file already read."""
    if listing:
        newest = max(listing, key=lambda p: (listing[p]["mtime_ns"], p))
        return read_paths(ctx, name, cfg, root, [str(root / newest) if root.is_dir() else str(root)]).limit(0)
    from pyspark.sql.types import StructType

    log.warning("dataset %r has no files under %s: returning an empty frame without columns", name, root)
    return ctx.spark.createDataFrame([], StructType([]))
