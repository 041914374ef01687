"""The static pipeline-health dashboard (``nbpipe report`` → ``runs/index.html``).

One self-contained HTML page (no scripts, no network): per pipeline its last status, success
rate, freshness, duration, rows written, rejected rows, quality and cost, with inline SVG trends,
then the recent runs linking to their ``report.html``. Everything comes from the run store.
"""

from __future__ import annotations

import datetime as dt
import html
import os
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbpipe.core.config import Project
from nbpipe.core.events import utcnow
from nbpipe.core.layout import REJECTED_SUFFIX, RunDir

TEMPLATES = Path(__file__).parent / "templates" / "dashboard"
# Outputs whose rows count as rejected: nbpipe's quarantines, and a notebook's own rejects by convention.
REJECTS = (REJECTED_SUFFIX, "_rejected")


@dataclass
class PipelineHealth:
    """What the dashboard shows of one pipeline, from its newest runs in the store.

    Rows written and rows rejected count only succeeded runs: a failed run's staged outputs (and
    its quarantine) were never published. Rejected rows are those of nbpipe's quarantines
    (``<dataset>__rejected``) and of datasets a notebook writes its own rejects to, named
    ``<dataset>_rejected`` (the example's ``flights_rejected``); every other output is rows written.
    """

    name: str
    runs: list[dict[str, Any]] = field(default_factory=list)  # newest first
    rows_out: list[tuple[str, int]] = field(default_factory=list)  # (run_id, rows it wrote) oldest first
    rejected: int = 0  # rows its runs wrote to ``*__rejected`` / ``*_rejected`` datasets

    @property
    def last(self) -> dict[str, Any] | None:
        return self.runs[0] if self.runs else None

    @property
    def last_success(self) -> dict[str, Any] | None:
        return next((r for r in self.runs if r["status"] == "succeeded"), None)

    @property
    def success_rate(self) -> float | None:
        """Succeeded / (succeeded + failed); skipped and running runs do not count."""
        done = [r for r in self.runs if r["status"] in ("succeeded", "failed")]
        return sum(r["status"] == "succeeded" for r in done) / len(done) if done else None

    @property
    def durations(self) -> list[float]:
        """Seconds of every run that executed (not skipped), oldest first."""
        return [
            float(r["duration_s"])
            for r in reversed(self.runs)
            if r.get("duration_s") is not None and r["status"] != "skipped"
        ]

    @property
    def quality_counts(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for r in self.runs:
            counts[r.get("quality") or "none"] += 1
        return dict(counts)


def collect(project: Project, store: Any, *, limit: int = 500) -> list[PipelineHealth]:
    """Health facts per pipeline from the newest ``limit`` runs."""
    by_name: dict[str, PipelineHealth] = {n: PipelineHealth(n) for n in project.config.pipelines}
    for run in store.list_runs(limit=limit):
        by_name.setdefault(run["pipeline"], PipelineHealth(run["pipeline"])).runs.append(run)
    succeeded = {r["run_id"] for h in by_name.values() for r in h.runs if r["status"] == "succeeded"}
    written: dict[str, dict[str, int]] = defaultdict(dict)  # pipeline → {run_id: rows}, oldest run first
    for row in store.dataset_history():  # oldest run first
        health = by_name.get(row["pipeline"])
        if health is None or row["direction"] != "out" or row["run_id"] not in succeeded:
            continue
        rows = int(row.get("rows") or 0)
        if str(row.get("dataset") or "").endswith(REJECTS):
            health.rejected += rows
        else:
            per_run = written[health.name]
            per_run[row["run_id"]] = per_run.get(row["run_id"], 0) + rows
    for health in by_name.values():
        health.rows_out = list(written[health.name].items())
    return sorted(by_name.values(), key=lambda h: h.name)


def sparkline(values: list[float], width: int = 120, height: int = 24) -> str:
    """An inline SVG polyline of ``values`` (empty string for fewer than two points)."""
    if len(values) < 2:
        return ""
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    step = width / (len(values) - 1)
    points = " ".join(f"{i * step:.1f},{height - 2 - (v - lo) / span * (height - 4):.1f}" for i, v in enumerate(values))
    return (
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="trend"><polyline fill="none" stroke="currentColor" stroke-width="1.5" '
        f'points="{points}"/></svg>'
    )


def _age(iso: str | None, now: dt.datetime) -> str:
    if not iso:
        return "never"
    seconds = (now - dt.datetime.fromisoformat(iso)).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return "just now"


def render(project: Project, store: Any, out_dir: Path, *, now: dt.datetime | None = None) -> Path:
    """Write ``out_dir/index.html`` and return its path."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    now = now or utcnow()
    out_dir.mkdir(parents=True, exist_ok=True)
    pipelines = collect(project, store)
    cores = project.spark_cores
    price = project.config.cost.core_hour_usd

    def link(run: dict[str, Any]) -> str | None:
        report = RunDir.of(project.runs_dir, run["pipeline"], run["run_id"]).report
        return os.path.relpath(report, out_dir) if report.exists() else None

    rows = []
    for h in pipelines:
        last = h.last
        durations = h.durations
        rows.append(
            {
                "name": h.name,
                "last": last,
                "last_link": link(last) if last else None,
                "fresh": _age((h.last_success or {}).get("ended_at"), now),
                "success_rate": h.success_rate,
                "median_s": statistics.median(durations) if durations else None,
                "duration_trend": sparkline(durations[-30:]),
                "rows_last": h.rows_out[-1][1] if h.rows_out else None,
                "rows_trend": sparkline([float(r) for _, r in h.rows_out[-30:]]),
                "rejected": h.rejected,
                "quality": h.quality_counts,
                "cost_usd": sum(durations) / 3600 * cores * price,
                "runs": len(h.runs),
            }
        )
    recent = [{**r, "link": link(r)} for r in store.list_runs(limit=50)]
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    page = env.get_template("index.html.j2").render(
        project=project.config.project,
        profile=project.profile_name,
        generated=now.isoformat(timespec="seconds"),
        pipelines=rows,
        recent=recent,
        escape=html.escape,
    )
    target = out_dir / "index.html"
    tmp = out_dir / ".index.html.tmp"
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, target)
    return target
