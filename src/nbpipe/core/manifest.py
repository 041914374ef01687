"""A published dataset's commit manifest: which files make up its last whole publish.

A publish replaces a dataset's partitions ("units") one directory at a time, so a plain reader of
the folder can see some units new and others old while it runs (or, if the runner is killed, until
the next run rolls it forward). The manifest makes reads through nbpipe see whole publishes only:

* ``<dataset root>/_nbpipe_manifest.json`` lists, per unit, the run that published it and its data
  files (size, mtime). It is replaced by one atomic rename after every unit of a publish is in
  place: that rename is the commit. Its name starts with ``_``, so Spark, pyarrow, pandas and
  DuckDB's ``*.parquet`` globs skip it.
* Before a publish swaps a unit, it keeps the committed files of that unit inside the new unit
  directory, in ``<unit>/.nbpipe_prev/`` (hard links, or copies where links fail, each named
  ``<file>.prev``, with the old unit's marker). Spark, pyarrow and pandas skip dot-directories and
  ``*.parquet`` globs do not match ``.prev``. The copies are dropped once the manifest is committed.
* :func:`committed_files` resolves the manifest to files: a unit whose live files are the committed
  ones (same names, sizes and mtimes) is read in place, a unit already replaced by an uncommitted
  publish is read from its ``.nbpipe_prev`` copy (its marker names the manifest's run), under the
  same partition path, so Spark sees the same partition columns.

:func:`changes_since_commit` compares a dataset with its manifest: published datasets that changed
outside the publish step. Datasets published before manifests existed have none; they are read
by listing, as before, until their next publish writes one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbpipe.core.layout import MARKER, hidden, publish_work_dir, read_marker
from nbpipe.errors import DatasetError

MANIFEST = "_nbpipe_manifest.json"
PREVIOUS = ".nbpipe_prev"  # inside a unit being replaced: its committed files until the manifest moves on
PREVIOUS_SUFFIX = ".prev"
FORMAT = 1
_RESOLVE_TRIES = 5

Files = dict[str, dict[str, int]]  # file name (in its unit) -> {"size", "mtime_ns"}


def visible_dir(name: str) -> bool:
    """Directories Spark lists: not ``.x``, not ``_x`` unless a partition directory (``_x=v``)."""
    return not (name.startswith(".") or (name.startswith("_") and "=" not in name))


def unit_files(unit_dir: Path) -> Files:
    """The data files directly inside one unit directory (hidden names and markers skipped)."""
    out: Files = {}
    try:
        entries = sorted(os.scandir(unit_dir), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return out
    for entry in entries:
        if entry.is_file(follow_symlinks=False) and not hidden(entry.name):
            st = entry.stat(follow_symlinks=False)
            out[entry.name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    return out


def data_listing(root: Path) -> dict[str, Files]:
    """Every unit with data files under ``root`` -> its files, as a Spark read of the folder sees them."""
    units: dict[str, Files] = {}
    if not root.is_dir():
        return units
    for dirpath, dirnames, _ in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if visible_dir(d))
        unit = Path(dirpath).relative_to(root).as_posix()
        files = unit_files(Path(dirpath))
        if files:
            units["" if unit == "." else unit] = files
    return units


def read_manifest(root: Path) -> dict[str, Any] | None:
    """The dataset's committed manifest, or None (never published with one, or not readable)."""
    try:
        data = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("units"), dict) else None


def _unit_run(unit_dir: Path) -> str | None:
    run_id = read_marker(unit_dir).get("run_id")
    return None if run_id is None else str(run_id)


def new_manifest(dataset: str, run_id: str, root: Path, previous: dict[str, Any] | None,
                 units: list[str] | None) -> dict[str, Any]:
    """The manifest of ``root`` once ``units`` (None: every unit) hold ``run_id``'s data.

    Units the publish did not touch keep their entries from ``previous`` (they are not listed
    again, so a change made outside the publish step is not adopted); without a previous manifest
    the whole folder is listed.
    """
    if previous is None or units is None:
        entries = {u: {"run_id": _unit_run(root / u), "files": files} for u, files in data_listing(root).items()}
    else:
        entries = dict(previous["units"])
        for unit in units:
            entries[unit] = {"run_id": _unit_run(root / unit), "files": unit_files(root / unit)}
    version = int(previous.get("version", 0)) + 1 if previous else 1
    return {"manifest": FORMAT, "dataset": dataset, "version": version, "run_id": run_id,
            "units": dict(sorted(entries.items()))}


def committed(previous: dict[str, Any] | None, run_id: str, units: list[str]) -> bool:
    """Whether ``previous`` already is ``run_id``'s commit of ``units`` (a publish called again)."""
    if previous is None or previous.get("run_id") != run_id:
        return False
    entries = previous["units"]
    return all(u in entries and entries[u].get("run_id") == run_id for u in units)


def write_manifest(root: Path, manifest: dict[str, Any]) -> None:
    """Commit ``manifest`` for ``root``: write a hidden temporary file, fsync, rename over the old one."""
    tmp = root / f"{MANIFEST}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, sort_keys=True, indent=1)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, root / MANIFEST)
    fd = os.open(root, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def manifest_lock(root: Path) -> Iterator[None]:
    """Serialise manifest updates of one dataset (an exclusive ``flock`` on its root directory)."""
    fd = os.open(root, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def keep_previous(live_unit: Path, new_unit: Path) -> None:
    """Keep ``live_unit``'s committed files in ``new_unit/.nbpipe_prev`` before the two are swapped.

    Hard links (copies where the filesystem refuses links); data files get the ``.prev`` suffix,
    the marker keeps its name. Rebuilt from scratch when called again.
    """
    prev = new_unit / PREVIOUS
    shutil.rmtree(prev, ignore_errors=True)
    prev.mkdir()
    names = [*unit_files(live_unit), *([MARKER] if (live_unit / MARKER).is_file() else [])]
    for name in names:
        target = prev / (name if name == MARKER else name + PREVIOUS_SUFFIX)
        try:
            os.link(live_unit / name, target)
        except OSError:
            shutil.copy2(live_unit / name, target)


def drop_previous(unit_dir: Path) -> None:
    """Remove the copies :func:`keep_previous` made, once the manifest no longer needs them."""
    shutil.rmtree(unit_dir / PREVIOUS, ignore_errors=True)


def _same(unit_dir: Path, files: Files) -> bool:
    """Whether ``unit_dir`` holds exactly these files (size and mtime), as committed."""
    for name, meta in files.items():
        try:
            st = os.stat(unit_dir / name)
        except OSError:
            return False
        if (st.st_size, st.st_mtime_ns) != (meta.get("size"), meta.get("mtime_ns")):
            return False
    return True


def _resolve(root: Path, manifest: dict[str, Any]) -> tuple[list[Path], list[str]]:
    """The committed files of ``manifest``, and the units that could not be found."""
    files: list[Path] = []
    missing: list[str] = []
    for unit, entry in sorted(manifest["units"].items()):
        live = root / unit if unit else root
        listed = dict(entry.get("files") or {})
        names = sorted(listed)
        prev = live / PREVIOUS
        if _same(live, listed):
            files.extend(live / n for n in names)
        elif prev.is_dir() and _unit_run(prev) == entry.get("run_id") and \
                all((prev / (n + PREVIOUS_SUFFIX)).is_file() for n in names):
            files.extend(prev / (n + PREVIOUS_SUFFIX) for n in names)
        else:
            missing.append(unit or ".")
    return files, missing


def committed_files(root: Path, dataset: str) -> list[Path] | None:
    """The data files of ``root``'s last committed publish; None when it has no manifest.

    A unit replaced by a publish that has not committed yet (running, or killed until the next run
    rolls it forward) resolves to its kept copy. A publish that commits while we look is seen on
    the next try.

    Raises:
        DatasetError: files of the committed version are gone (deleted or replaced outside nbpipe).
    """
    manifest: dict[str, Any] = {}
    missing: list[str] = []
    for attempt in range(_RESOLVE_TRIES):
        found = read_manifest(root)
        if found is None:
            return None
        manifest = found
        files, missing = _resolve(root, manifest)
        if not missing:
            return files
        time.sleep(0.05 * (attempt + 1))
    raise DatasetError(
        f"dataset {dataset!r}: files of its last committed publish (run {manifest.get('run_id')}, "
        f"manifest v{manifest.get('version')} in {root / MANIFEST}) are missing from "
        f"{', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}: the folder was changed outside "
        "nbpipe's publish step",
        hint=f"restore the files, or delete {root / MANIFEST} to read the folder as it is now (the next "
        f"publish of {dataset!r} lists it again)",
    )


@dataclass
class Changes:
    """Files of a published dataset that differ from its manifest."""

    dataset: str
    root: Path
    manifest: dict[str, Any]
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def describe(self, limit: int = 5) -> str:
        parts = []
        for what, paths in (("added", self.added), ("changed", self.changed), ("removed", self.removed)):
            if paths:
                shown = ", ".join(paths[:limit]) + (f" and {len(paths) - limit} more" if len(paths) > limit else "")
                parts.append(f"{len(paths)} file(s) {what} ({shown})")
        return "; ".join(parts)


def _in_flight(root: Path, unit_dir: Path) -> bool:
    """Whether ``unit_dir`` holds the data of a publish that is still running (its work dir exists)."""
    run_id = _unit_run(unit_dir)
    return run_id is not None and publish_work_dir(root, run_id).is_dir()


def changes_since_commit(dataset: str, root: Path) -> Changes | None:
    """What changed in ``root`` since its manifest was committed; None without a manifest.

    Units of a publish in flight (the run named by their marker still has its publish work
    directory) are skipped: that publish will commit them. A manifest committed while we compare
    (a concurrent backfill day of the same dataset) is compared again.
    """
    found: Changes | None = None
    for _ in range(_RESOLVE_TRIES):
        manifest = read_manifest(root)
        if manifest is None:
            return None
        found = _compare(dataset, root, manifest)
        if not found or read_manifest(root) == manifest:
            return found
    return found


def _compare(dataset: str, root: Path, manifest: dict[str, Any]) -> Changes:
    found = Changes(dataset, root, manifest)
    actual = data_listing(root)
    expected: dict[str, Files] = {u: dict(e.get("files") or {}) for u, e in manifest["units"].items()}
    for unit in sorted(set(actual) | set(expected)):
        have, want = actual.get(unit, {}), expected.get(unit, {})
        if have == want:
            continue
        if unit in actual and _in_flight(root, root / unit):
            continue
        prefix = f"{unit}/" if unit else ""
        for name in sorted(set(have) | set(want)):
            if name not in want:
                found.added.append(prefix + name)
            elif name not in have:
                found.removed.append(prefix + name)
            elif have[name] != want[name]:
                found.changed.append(prefix + name)
    return found
