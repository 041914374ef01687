"""Render the dashboard's pages from :mod:`.data`'s figures: overview, pipelines, cost, storage."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from nbpipe.core.config import Project
from nbpipe.core.events import utcnow
from nbpipe.core.layout import RunDir, dataset_root, quarantine_name, tree_bytes
from nbpipe.core.schedule import parse_duration
from nbpipe.errors import DatasetError
from nbpipe.report._format import fmt_bytes, fmt_duration
from nbpipe.report.dashboard.charts import chart, sparkline
from nbpipe.report.dashboard.data import HealthSource, PipelineHealth, Point, Window, collect

TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "dashboard"
INDEX = "index.html"
COST = "cost.html"
STORAGE = "storage.html"


def pipeline_page(name: str) -> str:
    """The file name of a pipeline's page (pipeline names are ``[A-Za-z0-9_]``)."""
    return f"pipeline-{name}.html"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} s"


def _du(path: Path) -> int | None:
    return tree_bytes(path) if path.exists() else None


def _storage(project: Project, pipelines: list[PipelineHealth], window: Window) -> list[dict[str, Any]]:
    written: dict[str, list[Point]] = {}
    for h in pipelines:
        for dataset, points in h.bytes_out.items():
            written.setdefault(dataset, []).extend(points)
    rows = []
    for name in sorted(set(project.config.datasets) | set(written)):
        try:
            on_disk = _du(dataset_root(project, name))
            quarantine = _du(dataset_root(project, quarantine_name(name)))
        except DatasetError:
            on_disk = quarantine = None
        points = sorted(written.get(name, []), key=lambda p: p.at)
        cumulative, total = [], 0.0
        for p in points:
            total += p.value
            cumulative.append(total)
        rows.append({"name": name, "on_disk": on_disk, "quarantine": quarantine, "written": int(total),
                     "growth": sparkline(cumulative), "publishes": len(points)})
    return rows


def render(project: Project, source: HealthSource, out_dir: Path, *, now: dt.datetime | None = None,
           window: str = "30d", reclaim: dict[str, Any] | None = None) -> Path:
    """Write the dashboard's pages into ``out_dir`` and return the overview's path.

    Args:
        project: the loaded project.
        source: the run store's bounded queries.
        out_dir: where the pages go (the runs directory by default, so run reports link relatively).
        now: the clock (tests pin it).
        window: the time window of every figure, e.g. ``30d``, ``12h``, ``2w``.
        reclaim: what ``nbpipe gc`` would delete now: ``{"by_kind": {kind: {"items", "bytes"}}}``, with
            ``"error"`` when gc could not plan; None when it was not computed.
    """
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    now = now or utcnow()
    span = Window(now - parse_duration(window), now, window)
    out_dir.mkdir(parents=True, exist_ok=True)
    pipelines = collect(project, source, span)

    def link(run: dict[str, Any] | None) -> str | None:
        if not run:
            return None
        report = RunDir.of(project.runs_dir, run["pipeline"], run["run_id"]).report
        return os.path.relpath(report, out_dir) if report.exists() else None

    for h in pipelines:
        for run in (h.last, h.last_success, *h.recent):
            if run is not None:
                run.setdefault("pipeline", h.name)
                run["link"] = link(run)
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    env.globals.update(pct=_pct, seconds=_seconds, fmt_bytes=fmt_bytes, fmt_duration=fmt_duration,
                       sparkline=sparkline, chart=chart, page_of=pipeline_page)
    common = {"project": project.config.project, "profile": project.profile_name,
              "generated": now.isoformat(timespec="seconds"), "window": span,
              "pipelines": pipelines, "index": INDEX, "cost_page": COST, "storage_page": STORAGE}
    pages: dict[str, tuple[str, dict[str, Any]]] = {
        INDEX: ("index.html.j2", {}),
        COST: ("cost.html.j2", {"datasets": sorted(set(project.config.datasets)
                                                   | {d for h in pipelines for d in h.rows}),
                                "dataset_costs": source.window_dataset_costs(span.since)}),
        STORAGE: ("storage.html.j2", {"storage": _storage(project, pipelines, span), "reclaim": reclaim}),
        **{pipeline_page(h.name): ("pipeline.html.j2", {"p": h}) for h in pipelines},
    }
    for name, (template, extra) in pages.items():
        text = env.get_template(template).render(**common, **extra, page=name)
        tmp = out_dir / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out_dir / name)
    return out_dir / INDEX
