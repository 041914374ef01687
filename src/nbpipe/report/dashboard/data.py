"""The dashboard's data layer: every figure of every page, from bounded queries over one window.

The figures come from a :class:`HealthSource` (the run store's bounded queries,
:class:`nbpipe.run.store_queries.StoreQueries`), each read for one stated time window
(``--window 30d``), so ``nbpipe report`` costs what the window holds, not the whole history. Two
facts are point-in-time rather than windowed and say so on the page: a pipeline's last run, and
its freshness (its last success against its schedule).

Counting rules: success rate is succeeded / (succeeded + failed); duration p50/p95 are over runs
that executed (not skipped); rows written and rows rejected count succeeded runs only (a failed
run published nothing); rejected rows are those written to ``<dataset>__rejected`` (nbpipe's
quarantine) or ``<dataset>_rejected`` (a notebook's own rejects); quality pass rate is passed /
runs with checks. A dataset's rows are judged with :func:`nbpipe.core.anomaly.volume_verdict`
against the other runs around it in the window (the 28 before it; leave-one-out).

Cost and open alerts come from what other services record: :func:`cost_for_period` reads the
runs' measured ``cost_usd`` (``nbpipe.ops.cost``'s model), :func:`open_alerts` the alert state
that runs and ``nbpipe monitor`` keep; a run measured by no one shows "not measured", never an
estimate.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Protocol

from nbpipe.core.anomaly import VolumeRule, volume_verdict
from nbpipe.core.config import Project
from nbpipe.core.layout import REJECTED_SUFFIX
from nbpipe.core.schedule import lateness

REJECTS = (REJECTED_SUFFIX, "_rejected")
RECENT = 50  # runs listed on a pipeline page (newest of the window)
FRESHNESS = {"ok": "OK", "warn": "LATE", "error": "LATE"}


class HealthSource(Protocol):
    """The bounded queries the dashboard needs (implemented over the run store)."""

    def pipelines(self) -> list[str]: ...
    def newest_runs(self, pipeline: str, limit: int, *, status: str | None = None,
                    since: str | None = None) -> list[dict[str, Any]]: ...
    def window_runs(self, pipeline: str, since: str) -> list[dict[str, Any]]: ...
    def window_outputs(self, pipeline: str, since: str) -> list[dict[str, Any]]: ...
    def window_checks(self, pipeline: str, since: str) -> list[dict[str, Any]]: ...
    def window_cost(self, pipeline: str, since: str) -> float | None: ...
    def window_dataset_costs(self, since: str) -> dict[str, float]: ...
    def open_alerts(self, pipeline: str) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class Window:
    """The time window every figure of a page uses."""

    start: dt.datetime
    end: dt.datetime
    label: str  # as given: "30d"

    @property
    def since(self) -> str:
        return self.start.isoformat()


@dataclass(frozen=True)
class Point:
    """One run's value on a chart; ``note`` explains an anomaly."""

    run_id: str
    at: dt.datetime
    value: float
    anomalous: bool = False
    note: str = ""


@dataclass
class PipelineHealth:
    """Everything the pages show of one pipeline."""

    name: str
    schedule: str | None = None
    last: dict[str, Any] | None = None  # newest run, whenever
    last_success: dict[str, Any] | None = None
    freshness: str = "unscheduled"  # OK | LATE | unscheduled
    freshness_level: str = "none"  # ok | warn | error | none
    runs: list[dict[str, Any]] = field(default_factory=list)  # in the window, oldest first
    recent: list[dict[str, Any]] = field(default_factory=list)  # newest RECENT of the window
    durations: list[Point] = field(default_factory=list)
    rows: dict[str, list[Point]] = field(default_factory=dict)  # output dataset -> rows per succeeded run
    rows_total: list[Point] = field(default_factory=list)  # per succeeded run, every non-reject output
    bytes_out: dict[str, list[Point]] = field(default_factory=dict)
    rejected: int = 0
    checks: list[dict[str, Any]] = field(default_factory=list)
    cost_usd: float | None = None
    alerts: list[dict[str, Any]] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(r["status"] == status for r in self.runs)

    @property
    def success_rate(self) -> float | None:
        done = self.count("succeeded") + self.count("failed")
        return self.count("succeeded") / done if done else None

    def duration_pct(self, pct: int) -> float | None:
        values = sorted(p.value for p in self.durations)
        if not values:
            return None
        if len(values) == 1:
            return values[0]
        return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]

    @property
    def duration_change(self) -> float | None:
        """Median duration of the window's second half against its first half, in percent."""
        values = [p.value for p in self.durations]
        if len(values) < 4:
            return None
        half = len(values) // 2
        before, after = statistics.median(values[:half]), statistics.median(values[half:])
        return (after - before) / before * 100 if before else None

    @property
    def quality_counts(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for r in self.runs:
            if r.get("quality") in ("passed", "warned", "failed"):
                counts[r["quality"]] += 1
        return dict(counts)

    @property
    def quality_pass_rate(self) -> float | None:
        counts = self.quality_counts
        total = sum(counts.values())
        return counts.get("passed", 0) / total if total else None

    @property
    def rows_marks(self) -> list[int]:
        """Indexes of :attr:`rows_total` that hold an anomaly."""
        return [i for i, p in enumerate(self.rows_total) if p.anomalous]

    @property
    def anomalies(self) -> int:
        return sum(p.anomalous for points in self.rows.values() for p in points)


def cost_for_period(source: HealthSource, pipeline: str, window: Window) -> float | None:
    """The measured cost of ``pipeline``'s runs in ``window`` (``runs.cost_usd``); None when nothing was measured."""
    return source.window_cost(pipeline, window.since)


def open_alerts(source: HealthSource, pipeline: str) -> list[dict[str, Any]]:
    """The alerts open now for ``pipeline`` and its datasets (``nbpipe monitor`` and runs keep them)."""
    return source.open_alerts(pipeline)


def moment(value: str | dt.datetime) -> dt.datetime:
    """An aware UTC datetime from a store timestamp (ISO text, naive UTC text, or a datetime)."""
    when = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


def _judge(points: list[Point], rule: VolumeRule | None = None) -> list[Point]:
    """Mark each point that :func:`volume_verdict` finds anomalous against its neighbours.

    A point is judged against the ``rule.window`` runs before it, leaving itself out; the first
    points of the window, with too few runs before them, against the nearest runs after them.
    Linear in the window's runs.
    """
    rule = rule or VolumeRule()
    judged = []
    for i, p in enumerate(points):
        neighbours = points[max(0, i - rule.window) : i]
        if len(neighbours) < rule.min_history:
            neighbours = neighbours + points[i + 1 : i + 1 + rule.window - len(neighbours)]
        verdict = volume_verdict([(q.at, q.value) for q in neighbours], p.value, p.at, rule)
        note = (f"{p.value:,.0f} rows vs median {verdict.baseline:,.0f} ({verdict.change_pct:+.0f}%, "
                f"{verdict.basis})") if verdict.anomalous and verdict.baseline is not None else ""
        judged.append(Point(p.run_id, p.at, p.value, verdict.anomalous, note))
    return judged


def _freshness(project: Project, health: PipelineHealth, now: dt.datetime) -> None:
    cfg = project.config.pipelines.get(health.name)
    window = cfg.freshness_window() if cfg is not None else None
    if cfg is None or cfg.schedule is None or window is None:
        return
    health.schedule = cfg.schedule
    success = health.last_success
    ended = moment(success["ended_at"] or success["started_at"]) if success else None
    first = health.runs[0]["started_at"] if health.runs else None
    verdict = lateness(cfg.schedule, window, ended, now, since=moment(first) if first else None)
    health.freshness, health.freshness_level = FRESHNESS[verdict.status], verdict.status


def pipeline_health(project: Project, source: HealthSource, name: str, window: Window) -> PipelineHealth:
    """The figures of one pipeline over ``window`` (a handful of bounded queries)."""
    health = PipelineHealth(name)
    newest = source.newest_runs(name, 1)
    health.last = newest[0] if newest else None
    succeeded = source.newest_runs(name, 1, status="succeeded")
    health.last_success = succeeded[0] if succeeded else None
    health.runs = source.window_runs(name, window.since)
    health.recent = source.newest_runs(name, RECENT, since=window.since)
    health.durations = [Point(r["run_id"], moment(r["started_at"]), float(r["duration_s"])) for r in health.runs
                        if r["status"] != "skipped" and r.get("duration_s") is not None]
    rows: dict[str, list[Point]] = defaultdict(list)
    sizes: dict[str, list[Point]] = defaultdict(list)
    totals: dict[str, Point] = {}
    for out in source.window_outputs(name, window.since):
        at, count = moment(out["started_at"]), int(out.get("rows") or 0)
        dataset = str(out["dataset"])
        if dataset.endswith(REJECTS):
            health.rejected += count
            continue
        rows[dataset].append(Point(out["run_id"], at, float(count)))
        if out.get("bytes") is not None:
            sizes[dataset].append(Point(out["run_id"], at, float(out["bytes"])))
        total = totals.get(out["run_id"])
        totals[out["run_id"]] = Point(out["run_id"], at, (total.value if total else 0.0) + count)
    health.rows = {d: _judge(points) for d, points in sorted(rows.items())}
    flagged = {p.run_id: p.note for points in health.rows.values() for p in points if p.anomalous}
    health.rows_total = [Point(p.run_id, p.at, p.value, p.run_id in flagged, flagged.get(p.run_id, ""))
                         for p in totals.values()]
    health.bytes_out = dict(sorted(sizes.items()))
    health.checks = source.window_checks(name, window.since)
    _freshness(project, health, window.end)
    health.cost_usd = cost_for_period(source, name, window)
    health.alerts = open_alerts(source, name)
    return health


def collect(project: Project, source: HealthSource, window: Window) -> list[PipelineHealth]:
    """Every configured pipeline and every pipeline with runs in the store, by name."""
    names = sorted(set(project.config.pipelines) | set(source.pipelines()))
    return [pipeline_health(project, source, name, window) for name in names]
