"""What pipelines and datasets cost over a period: ``nbpipe cost`` and the dashboard's cost figures.

Compute comes from the store's ``cost_lines`` (one row per priced line of each run's cost, see
:mod:`nbpipe.core.costmodel`), added up in SQL over the runs that started in the window, so the
time does not grow with the history outside it. A dataset's compute is the cost of the operations
that read, wrote or checked it; a run's other lines (notebook overhead, idle/start-up, the driver)
are their own rows, never hidden. Storage is measured on disk now (the dataset, its quarantine,
and the run records) and priced at ``cost.gb_month_usd`` for the window's length.

:func:`cost_breakdown` is the API (``CostReport.to_dict()`` is the ``--json`` output); the
previous period of the same length gives each row's change and the top movers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa

from nbpipe.core import costmodel
from nbpipe.core.config import Project
from nbpipe.core.layout import dataset_root, quarantine_name, tree_bytes
from nbpipe.core.schedule import parse_duration
from nbpipe.errors import DatasetError, ParameterError
from nbpipe.run.store import RunStore
from nbpipe.run.store_schema import cost_lines

By = Literal["pipeline", "dataset", "day"]
BY_CHOICES: tuple[str, ...] = ("pipeline", "dataset", "day")
TOP_MOVERS = 5
_UNATTRIBUTED = {costmodel.LINE_OVERHEAD: "(notebook overhead)", costmodel.LINE_IDLE: "(idle / start-up)",
                 costmodel.LINE_DRIVER: "(driver / kernel)", costmodel.LINE_ESTIMATE: "(wall-clock estimate)"}
RUN_RECORDS = "(run records)"


@dataclass
class CostRow:
    """One row of the breakdown: compute and storage of a pipeline, dataset or day.

    ``runs`` counts the runs of a pipeline or day, and the operations on a dataset.
    """

    key: str
    compute_usd: float = 0.0
    core_s: float = 0.0
    runs: int = 0
    storage_usd: float = 0.0
    storage_bytes: int = 0
    previous_usd: float = 0.0

    @property
    def total_usd(self) -> float:
        return self.compute_usd + self.storage_usd

    @property
    def change_usd(self) -> float:
        return self.total_usd - self.previous_usd


@dataclass
class CostReport:
    """The breakdown of one window, with the previous window of the same length for comparison."""

    by: str
    since: str
    start: str
    end: str
    core_hour_usd: float
    gb_month_usd: float
    rows: list[CostRow] = field(default_factory=list)
    lines: dict[str, float] = field(default_factory=dict)  # compute by line kind (operation, idle, …)
    storage: list[dict[str, Any]] = field(default_factory=list)
    previous_total_usd: float = 0.0

    @property
    def compute_usd(self) -> float:
        return sum(self.lines.values())

    @property
    def storage_usd(self) -> float:
        return sum(s["usd"] for s in self.storage)

    @property
    def total_usd(self) -> float:
        return self.compute_usd + self.storage_usd

    def movers(self, n: int = TOP_MOVERS) -> list[CostRow]:
        """The rows whose total changed most against the previous period (largest change first)."""
        moved = [r for r in self.rows if round(r.change_usd, 9) != 0]
        return sorted(moved, key=lambda r: (-abs(r.change_usd), r.key))[:n]

    def to_dict(self) -> dict[str, Any]:
        def row(r: CostRow) -> dict[str, Any]:
            return {**asdict(r), "total_usd": r.total_usd, "change_usd": r.change_usd}

        return {
            "by": self.by, "since": self.since, "window": {"start": self.start, "end": self.end},
            "prices": {"core_hour_usd": self.core_hour_usd, "gb_month_usd": self.gb_month_usd},
            "totals": {"compute_usd": self.compute_usd, "storage_usd": self.storage_usd,
                       "total_usd": self.total_usd, "previous_total_usd": self.previous_total_usd},
            "compute_by_line": self.lines, "storage": self.storage,
            "rows": [row(r) for r in self.rows], "top_movers": [row(r) for r in self.movers()],
        }


def parse_since(value: str) -> dt.timedelta:
    """``--since`` as a duration (``30d``, ``12h``, ``2w``).

    Raises:
        ParameterError: the value is not a positive duration.
    """
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ParameterError(f"--since {value!r}: {exc}",
                             hint="pass a duration such as --since 30d, 12h or 2w") from None


Sums = tuple[float, float, int]  # usd, core-seconds, runs


def _compute(store: RunStore, by: str, start: str, end: str) -> tuple[dict[str, Sums], dict[str, float]]:
    """Per key: (usd, core_s, runs); and per line kind: usd. One grouped scan of the window's index."""
    c = cost_lines.c
    window = sa.and_(c.started_at >= start, c.started_at < end)
    if by == "dataset":
        key: Any = sa.case((c.line == costmodel.LINE_OP, c.dataset), else_=c.line)
    else:
        key = c.pipeline if by == "pipeline" else c.day
    # every run has exactly one driver (or, recorded before v2, estimate) line: counting those counts
    # runs without a DISTINCT; a dataset row counts its operations
    counted = (costmodel.LINE_OP,) if by == "dataset" else (costmodel.LINE_DRIVER, costmodel.LINE_ESTIMATE)
    query = (sa.select(key.label("k"), c.line, sa.func.sum(c.usd), sa.func.sum(c.core_s), sa.func.count())
             .where(window).group_by(key, c.line))
    with store.engine.connect() as conn:
        found = conn.execute(query).tuples().all()
    rows: dict[str, Sums] = {}
    lines: dict[str, float] = {}
    for k, line, usd, core_s, n in found:
        name = _UNATTRIBUTED.get(str(k), str(k)) if by == "dataset" else str(k)
        u, s, r = rows.get(name, (0.0, 0.0, 0))
        rows[name] = (u + float(usd or 0), s + float(core_s or 0), r + (int(n) if line in counted else 0))
        lines[str(line)] = lines.get(str(line), 0.0) + float(usd or 0)
    return rows, lines


def dir_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` (0 when it does not exist); symlinks are not followed."""
    return tree_bytes(path)


def storage_lines(project: Project, days: float) -> list[dict[str, Any]]:
    """Each dataset's bytes on disk (and its quarantine's, and the run records') priced for ``days``."""
    price = project.config.cost.gb_month_usd
    out = []
    for name in sorted(project.config.datasets):
        for kind, dataset in (("dataset", name), ("quarantine", quarantine_name(name))):
            try:
                root = dataset_root(project, dataset)
            except DatasetError:
                continue
            nbytes = dir_bytes(root)
            if nbytes or kind == "dataset":
                out.append(costmodel.storage_line(name, nbytes, price, days, kind=kind))
    for pipeline in sorted(project.config.pipelines):
        nbytes = dir_bytes(project.runs_dir / pipeline)
        out.append(costmodel.storage_line(RUN_RECORDS, nbytes, price, days, kind=f"runs:{pipeline}"))
    return out


def _storage_keys(project: Project, line: dict[str, Any], by: str) -> list[str]:
    if by == "dataset":
        return [line["dataset"]]
    if by == "day":
        return []
    if line["kind"].startswith("runs:"):
        return [line["kind"][5:]]
    return [p for p, cfg in sorted(project.config.pipelines.items()) if line["dataset"] in cfg.writes][:1]


def cost_breakdown(project: Project, store: RunStore, *, since: str = "30d", by: str = "pipeline",
                   now: dt.datetime | None = None) -> CostReport:
    """The cost of the window ``[now - since, now)`` by pipeline, dataset or day.

    Raises:
        ParameterError: ``since`` is not a duration or ``by`` not one of pipeline, dataset, day.
    """
    if by not in BY_CHOICES:
        raise ParameterError(f"--by {by!r} is not a breakdown", hint=f"use one of: {', '.join(BY_CHOICES)}")
    span = parse_since(since)
    end = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    start, before = end - span, end - 2 * span
    current, lines = _compute(store, by, start.isoformat(), end.isoformat())
    previous, _ = _compute(store, by, before.isoformat(), start.isoformat())
    rows: dict[str, CostRow] = {}
    for k, (usd, core_s, n) in current.items():
        rows[k] = CostRow(k, compute_usd=usd, core_s=core_s, runs=n)
    for k, (usd, _core_s, _n) in previous.items():
        rows.setdefault(k, CostRow(k)).previous_usd = usd
    storage = storage_lines(project, span.total_seconds() / 86400)
    for line in storage:
        for k in _storage_keys(project, line, by):
            row = rows.setdefault(k, CostRow(k))
            row.storage_usd += line["usd"]
            row.storage_bytes += line["bytes"]
            row.previous_usd += line["usd"]  # storage is measured now: no change is claimed for it
    price = project.config.cost.rate(project.profile_name)[0]
    return CostReport(
        by=by, since=since, start=start.isoformat(), end=end.isoformat(), core_hour_usd=price,
        gb_month_usd=project.config.cost.gb_month_usd,
        rows=sorted(rows.values(), key=lambda r: (-r.total_usd, r.key)), lines=lines, storage=storage,
        previous_total_usd=sum(u for u, _s, _n in previous.values()) + sum(s["usd"] for s in storage),
    )
