"""What the catalog knows about each dataset and pipeline, gathered from config, contracts, disk and store.

Everything here is data (plain dicts and dataclasses ready for the templates); rendering is
:mod:`nbpipe.report.catalog`. The store is read with a fixed number of queries whatever the number
of datasets: every dataset row of every run once, the per-run check tallies once, and the recent
runs of each pipeline.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbpipe.core.config import DatasetConfig, Project
from nbpipe.core.contracts import Contract, contract_path, load_contract
from nbpipe.core.layout import REJECTED_SUFFIX, dataset_root
from nbpipe.errors import NbpipeError
from nbpipe.ops.catalog import store_facts

TREND_RUNS = 30  # row counts shown in a dataset's trend
PASS_RATE_RUNS = 20  # runs the "recent pass rate" counts
RECENT_RUNS = 20  # runs listed on a pipeline page
EXAMPLE_ROWS = 5


@dataclass
class DatasetFacts:
    """One dataset page."""

    name: str
    config: DatasetConfig
    declared: bool
    contract: Contract | None = None
    contract_file: str | None = None
    contract_error: str | None = None
    writers: list[str] = field(default_factory=list)
    readers: list[str] = field(default_factory=list)
    versions: list[dict[str, Any]] = field(default_factory=list)  # {version, first, last, runs}
    rows_trend: list[tuple[str, int]] = field(default_factory=list)  # (started_at, rows) oldest first
    checks: dict[str, Any] = field(default_factory=dict)  # {runs, expectations, passed, rate}
    suite: list[str] = field(default_factory=list)
    storage: dict[str, Any] = field(default_factory=dict)
    freshness: list[dict[str, Any]] = field(default_factory=list)  # one per writing pipeline
    example: dict[str, Any] | None = None  # {columns, rows} or None

    @property
    def owner(self) -> str:
        return (self.contract.owner if self.contract else "") or self.config.owner

    @property
    def description(self) -> str:
        return (self.contract.description if self.contract else "") or self.config.description

    @property
    def tags(self) -> list[str]:
        return sorted({*self.config.tags, *(self.contract.tags if self.contract else ())})

    @property
    def pii_columns(self) -> list[str]:
        return [c.name for c in self.contract.columns if c.pii] if self.contract else []

    @property
    def has_pii(self) -> bool:
        return self.config.pii or bool(self.pii_columns)


@dataclass
class PipelineFacts:
    """One pipeline page."""

    name: str
    declared: bool
    config: Any  # PipelineConfig | None
    runs: list[dict[str, Any]] = field(default_factory=list)  # newest first
    freshness: dict[str, Any] | None = None


_WINDOWS: dict[Any, Any] = {}  # (schedule, freshness config) -> window: computing one walks croniter


def _iso(value: Any) -> dt.datetime | None:
    return dt.datetime.fromisoformat(str(value)) if value else None


def storage_of(root: Path, partition_by: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Size on disk, file count and partitions (``col=value`` folders) of a local dataset folder."""
    info: dict[str, Any] = {"path": str(root), "exists": root.exists(), "bytes": 0, "files": 0, "partitions": []}
    if not root.exists():
        return info
    if root.is_file():
        info.update(bytes=root.stat().st_size, files=1)
        return info
    first = f"{partition_by[0]}=" if partition_by else None
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith((".", "_"))]
        for f in filenames:
            if not f.startswith((".", "_")):
                info["files"] += 1
                info["bytes"] += (Path(dirpath) / f).stat().st_size
        if first and Path(dirpath) == root:
            info["partitions"] = sorted(d for d in dirnames if d.startswith(first))
    return info


def example_rows(root: Path, dataset: str, limit: int = EXAMPLE_ROWS) -> dict[str, Any] | None:
    """A few rows of a published Parquet dataset (pyarrow, never Spark); None when there are none."""
    import pyarrow.parquet as pq

    from nbpipe.core.manifest import committed_files

    try:
        files = committed_files(root, dataset)
    except NbpipeError:
        return None
    if files is None:
        files = sorted(p for p in root.rglob("*.parquet") if not any(s.startswith((".", "_")) for s in p.parts))
    for path in files:
        if path.suffix != ".parquet":
            continue
        parquet = pq.ParquetFile(path)
        columns = [c for c in parquet.schema_arrow.names if not c.startswith("_nbpipe_")]
        batch = next(parquet.iter_batches(batch_size=limit, columns=columns), None)  # reads one batch only
        if batch is None or not batch.num_rows:
            continue
        return {"columns": columns, "rows": [[row.get(c) for c in columns] for row in batch.to_pylist()]}
    return None


def _freshness(project: Project, pipeline: str, last_success: str | None, now: dt.datetime) -> dict[str, Any] | None:
    from nbpipe.core.schedule import lateness

    cfg = project.config.pipelines.get(pipeline)
    if cfg is None or cfg.schedule is None:
        return None
    key = (cfg.schedule, cfg.freshness)
    window = _WINDOWS.get(key)
    if window is None:
        window = _WINDOWS[key] = cfg.freshness_window()
    if window is None:
        return None
    verdict = lateness(cfg.schedule, window, _iso(last_success), now)
    return {"pipeline": pipeline, "status": verdict.status, "due": verdict.due.isoformat(timespec="minutes"),
            "age_h": None if verdict.age is None else verdict.age.total_seconds() / 3600,
            "last_success": last_success, "schedule": cfg.schedule}


def _contract(project: Project, facts: DatasetFacts) -> None:
    try:
        path = contract_path(project, facts.name)
        facts.contract_file = os.path.relpath(path, project.root)
        if path.is_file():
            facts.contract = load_contract(path)
    except NbpipeError as exc:  # one broken contract is shown on its page, not fatal to the site
        facts.contract_error = exc.message


def collect(project: Project, store: Any, graph: Any, *, now: dt.datetime) -> tuple[
        list[DatasetFacts], list[PipelineFacts]]:
    """Every dataset and pipeline of ``graph`` (config merged with what runs did) with its facts."""
    from nbpipe.quality.suites import describe, load_suite, suite_path

    cfgs = project.config.datasets
    datasets = {n.name: DatasetFacts(n.name, cfgs.get(n.name) or DatasetConfig(), n.declared)
                for n in graph.nodes.values() if n.kind == "dataset"}
    pipelines = {n.name: PipelineFacts(n.name, n.declared, project.config.pipelines.get(n.name))
                 for n in graph.nodes.values() if n.kind == "pipeline"}
    for edge in graph.sorted_edges():
        d = datasets[edge.dataset]
        (d.readers if edge.role == "reads" else d.writers).append(edge.pipeline)
    versions: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    last_success = store_facts.last_successes(store)
    for row in store_facts.outputs(store):  # oldest run first
        name = str(row.get("dataset") or "")
        if name not in datasets:
            continue
        facts = datasets[name]
        facts.rows_trend.append((str(row["started_at"]), int(row.get("rows") or 0)))
        version = row.get("schema_version")
        if version:
            seen = versions[name].setdefault(version, {"version": version, "first": row["started_at"], "runs": 0})
            seen.update(last=row["started_at"], runs=seen["runs"] + 1)
    tallies = store_facts.check_tallies(store)
    for name, facts in datasets.items():
        _contract(project, facts)
        facts.rows_trend = facts.rows_trend[-TREND_RUNS:]
        facts.versions = sorted(versions[name].values(), key=lambda v: str(v["first"]), reverse=True)
        recent = tallies.get(name, [])[-PASS_RATE_RUNS:]
        total, ok = sum(t for _, t, _ in recent), sum(p for _, _, p in recent)
        facts.checks = {"runs": len(recent), "expectations": total, "passed": ok,
                        "rate": ok / total if total else None, "last": recent[-1][0] if recent else None}
        try:
            if suite_path(project.root, name).is_file():
                facts.suite = [describe(e) for e in load_suite(project.root, name)["expectations"]]
        except NbpipeError as exc:
            facts.suite = [f"(suite unreadable: {exc.message})"]
        _disk(project, facts)
    for name, p in pipelines.items():
        p.runs = store.list_runs(name, limit=RECENT_RUNS)
        p.freshness = _freshness(project, name, last_success.get(name), now)
    for facts in datasets.values():
        facts.freshness = [f for f in (pipelines[p].freshness for p in facts.writers) if f]
    return sorted(datasets.values(), key=lambda d: d.name), sorted(pipelines.values(), key=lambda p: p.name)


def _disk(project: Project, facts: DatasetFacts) -> None:
    cfg = facts.config
    if cfg.format in ("jdbc", "kafka") or (cfg.path and "://" in cfg.path) or facts.name.endswith(REJECTED_SUFFIX):
        return
    try:
        root = dataset_root(project, facts.name, cfg)
    except NbpipeError as exc:
        facts.storage = {"error": exc.message}
        return
    partition_by = cfg.partition_by or (list(facts.contract.partition_by) if facts.contract else [])
    facts.storage = storage_of(root, partition_by)
    facts.storage["path"] = os.path.relpath(root, project.root) if root.is_relative_to(project.root) else str(root)
    # Example rows only when a contract says which columns are PII and none is (nor the dataset).
    if cfg.format == "parquet" and facts.contract is not None and not facts.has_pii and root.is_dir():
        try:
            facts.example = example_rows(root, facts.name)
        except (OSError, ValueError) as exc:  # a damaged file: the page says so, the site is still built
            facts.storage["example_error"] = f"{type(exc).__name__}: {exc}"
