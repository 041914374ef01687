"""Where things live on disk: run directories, datasets, staging, quarantine, internal columns.

Both processes agree on these names: the kernel stages writes and quarantined rows where the runner
will publish them, and tools (reports, the dashboard, recovery, promote) find a run's files by them.
One class owns a run directory's layout (:class:`RunDir`, dlt's ``PackageStorage`` pattern) and one
function decides where a dataset lives (:func:`dataset_root`, with its escape check).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from nbpipe.core.config import DatasetConfig, Project, check_name, inside
from nbpipe.core.events import EVENTS_FILE
from nbpipe.errors import DatasetError

# ---- datasets
REJECTED_SUFFIX = "__rejected"  # <dataset>__rejected: the quarantine of <dataset>
EXPLORE_DIR = "_explore"  # warehouse/_explore/<dataset>: explore writes; runs/_explore/<session>: explore logs
PUBLISH_SUFFIX = ".publish"  # .<dataset>.publish/<run_id>/{incoming,trash}: a publish in flight
# In every staged or published unit: which run and attempt wrote it. Hidden from Spark and pyarrow
# (``_`` prefix) and named so that no data glob (``**/*.parquet``, ``*.csv``, ``*.json``) matches it.
MARKER = "_nbpipe_run.marker"
LEGACY_MARKER = "_nbpipe_run.json"  # older versions' name: DuckDB's ``read_json('…/**/*.json')`` matched it
FILE_FORMATS = ("csv", "json", "parquet")
# ---- internal columns (every name starts with ``_nbpipe_``; contracts refuse that prefix), except
# the quarantine's partition column: it is also a directory name (``nbpipe_run_id=<run>``), and
# pyarrow (so pandas) and other readers skip directories whose names start with ``_`` or ``.``.
RUN_ID_COLUMN = "nbpipe_run_id"
LEGACY_RUN_ID_COLUMN = "_nbpipe_run_id"  # older quarantines; renamed by :func:`migrate_layout`
REASON = "_nbpipe_reason"  # why a row was rejected
RAW = "_nbpipe_raw"  # the raw input line of a rejected row, when known
SOURCE = "_nbpipe_source"  # the input file of a rejected row

Listing = dict[str, dict[str, int]]


class _Entry:
    """A file or folder of a run directory: ``RunDir(p).record`` is ``p / "run.json"``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, run_dir: RunDir, owner: type[RunDir]) -> Path:
        return run_dir.path / self.name


@dataclass(frozen=True)
class RunDir:
    """The files of one run: ``runs/<pipeline>/<run_id>/`` (explore sessions: ``runs/_explore/<id>/``)."""

    path: Path

    RECORD: ClassVar[str] = "run.json"
    EVENTS: ClassVar[str] = EVENTS_FILE
    OUTPUT: ClassVar[str] = "output.ipynb"
    REPORT: ClassVar[str] = "report.html"
    KERNEL_LOG: ClassVar[str] = "kernel.log"
    STAGING: ClassVar[str] = "staging"
    STATE_IN: ClassVar[str] = "state_in.json"
    RESUME_SNAPSHOT: ClassVar[str] = "resume_snapshot.json"
    LINEAGE: ClassVar[str] = "lineage.json"  # the run's OpenLineage identity and the events it emitted
    LINEAGE_OUTBOX: ClassVar[str] = "lineage-outbox.jsonl"  # OpenLineage events not delivered yet

    record: ClassVar[_Entry] = _Entry(RECORD)
    events: ClassVar[_Entry] = _Entry(EVENTS)
    output: ClassVar[_Entry] = _Entry(OUTPUT)
    report: ClassVar[_Entry] = _Entry(REPORT)
    kernel_log: ClassVar[_Entry] = _Entry(KERNEL_LOG)
    staging: ClassVar[_Entry] = _Entry(STAGING)
    state_in: ClassVar[_Entry] = _Entry(STATE_IN)
    resume_snapshot: ClassVar[_Entry] = _Entry(RESUME_SNAPSHOT)
    lineage: ClassVar[_Entry] = _Entry(LINEAGE)
    lineage_outbox: ClassVar[_Entry] = _Entry(LINEAGE_OUTBOX)

    @classmethod
    def of(cls, runs_dir: Path, pipeline: str, run_id: str) -> RunDir:
        return cls(Path(runs_dir) / pipeline / run_id)

    @classmethod
    def explore(cls, runs_dir: Path, session: str) -> RunDir:
        return cls(Path(runs_dir) / EXPLORE_DIR / session)

    @property
    def run_id(self) -> str:
        return self.path.name


def dataset_config(project: Project, name: str) -> DatasetConfig:
    """The dataset's config; ``<declared>__rejected`` quarantine datasets get an implicit one."""
    check_name(name, "dataset")
    base = name[: -len(REJECTED_SUFFIX)] if name.endswith(REJECTED_SUFFIX) else None
    if base and name not in project.config.datasets and base in project.config.datasets:
        return DatasetConfig(format="parquet", partition_by=[RUN_ID_COLUMN],
                             description=f"rows of {base} rejected by its contract or quality checks")
    return project.dataset(name)


def dataset_root(project: Project, name: str, cfg: DatasetConfig | None = None) -> Path:
    """Where a dataset lives: its ``path`` (inside the project or the warehouse) or ``warehouse/<name>``.

    The one rule every reader, writer, publisher and fingerprint uses.

    Raises:
        DatasetError: the path escapes both the project root and the warehouse.
    """
    cfg = cfg or dataset_config(project, name)
    what = f"path of dataset {name!r} (datasets.{name}.path)"
    if not cfg.path:
        return inside(project.warehouse, project.warehouse / name, what)
    candidate = project.path(cfg.path)
    for root in (project.root, project.warehouse):
        try:
            return inside(root, candidate, what)
        except DatasetError:
            continue
    return inside(project.root, candidate, what)  # raises, naming the project root


def explore_root(project: Project) -> Path:
    """Where explore-mode writes go: ``warehouse/_explore`` (never published)."""
    return project.warehouse / EXPLORE_DIR


def quarantine_name(dataset: str) -> str:
    """The quarantine dataset of ``dataset``."""
    return f"{dataset}{REJECTED_SUFFIX}"


def quarantine_unit(root: Path, dataset: str, run_id: str) -> Path:
    """One run's partition of ``dataset``'s quarantine under ``root`` (staging or the explore sandbox)."""
    return root / quarantine_name(dataset) / f"{RUN_ID_COLUMN}={run_id}"


def publish_work_dir(root: Path, run_id: str) -> Path:
    """Hidden sibling of a dataset root where one run's publish keeps incoming and trash units."""
    return root.with_name(f".{root.name}{PUBLISH_SUFFIX}") / run_id


def write_marker(unit_dir: Path, **info: Any) -> None:
    """Record which run (and attempt) staged ``unit_dir``."""
    (unit_dir / MARKER).write_text(json.dumps(info, sort_keys=True) + "\n", encoding="utf-8")


def read_marker(unit_dir: Path) -> dict[str, Any]:
    """The marker of a unit directory (today's name, else the legacy one), or ``{}``."""
    for name in (MARKER, LEGACY_MARKER):
        try:
            return dict(json.loads((unit_dir / name).read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return {}


def migrate_layout(root: Path) -> list[str]:
    """Rename what older versions wrote under the dataset root ``root`` to today's names.

    Quarantine partitions ``_nbpipe_run_id=<run>`` become ``nbpipe_run_id=<run>`` (a directory
    rename each; when both exist, the old one's data files move into the new one) and markers
    ``_nbpipe_run.json`` become ``_nbpipe_run.marker``. Idempotent; the publish calls it for every
    dataset it publishes, so existing warehouses become readable by pyarrow and DuckDB too.

    Returns:
        The paths (relative to ``root``) that were renamed.
    """
    renamed: list[str] = []
    if not root.is_dir():
        return renamed
    legacy_prefix = f"{LEGACY_RUN_ID_COLUMN}="
    for child in sorted(root.iterdir()):
        if not (child.is_dir() and child.name.startswith(legacy_prefix)):
            continue
        target = root / f"{RUN_ID_COLUMN}={child.name[len(legacy_prefix):]}"
        if not target.exists():
            os.rename(child, target)
        else:
            for i, f in enumerate(sorted(p for p in child.iterdir() if p.is_file() and not hidden(p.name))):
                os.rename(f, target / f"part-legacy-{i:05d}{f.suffix}")
            for f in child.iterdir():
                f.unlink()
            child.rmdir()
        renamed.append(child.name)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]  # not a publish in flight
        if LEGACY_MARKER in filenames:
            here = Path(dirpath)
            if MARKER in filenames:
                (here / LEGACY_MARKER).unlink()
            else:
                os.rename(here / LEGACY_MARKER, here / MARKER)
            renamed.append((here / LEGACY_MARKER).relative_to(root).as_posix())
    return renamed


def tree_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` (a file's own size; 0 when it is gone); symlinks are not followed."""
    if not os.path.isdir(path):
        return os.lstat(path).st_size if os.path.lexists(path) else 0
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:  # removed while we walked
                continue
    return total


def hidden(name: str) -> bool:
    """Names Spark skips when listing a dataset: ``.x``, ``_x`` (``_SUCCESS``, markers) and ``.crc``."""
    return name.startswith((".", "_")) or name.endswith(".crc")


def list_files(root: Path) -> Listing:
    """Data files under ``root`` (recursively), relative path -> size and mtime.

    Hidden names (:func:`hidden`, also for directories) are skipped, as Spark does. Paths use ``/``.
    """
    listing: Listing = {}
    if root.is_file():
        st = root.stat()
        return {root.name: {"size": st.st_size, "mtime_ns": st.st_mtime_ns}}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not hidden(d))
        for fname in filenames:
            if hidden(fname):
                continue
            full = Path(dirpath) / fname
            try:
                st = full.stat()
            except FileNotFoundError:  # removed while listing
                continue
            listing[full.relative_to(root).as_posix()] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    return listing
