"""Inline SVG charts (no scripts, no external resources): a sparkline and a time-series chart.

Every text that goes into an SVG is escaped here; the templates mark the returned markup safe.
Points carry a ``<title>`` (the browser's own tooltip: run id and value) and anomalies a red mark.
A chart draws at most :data:`MAX_POINTS` points and a sparkline :data:`SPARK_POINTS`: longer series
are drawn as consecutive groups of runs (their mean; a group holding an anomaly is marked), so a
page's size does not grow with the number of runs in the window.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

from nbpipe.report.dashboard.data import Point

MAX_POINTS = 240
SPARK_POINTS = 60


def _groups(n: int, limit: int) -> list[range]:
    """``range(n)`` cut into at most ``limit`` consecutive groups."""
    if n <= limit:
        return [range(i, i + 1) for i in range(n)]
    return [range(n * k // limit, n * (k + 1) // limit) for k in range(limit)]


def thin(points: Sequence[Point], limit: int = MAX_POINTS) -> list[Point]:
    """At most ``limit`` points: each a group of consecutive runs (mean value; anomalous if one is)."""
    if len(points) <= limit:
        return list(points)
    out = []
    for group in _groups(len(points), limit):
        members = [points[i] for i in group]
        flagged = [p for p in members if p.anomalous]
        label = f"{members[0].run_id} … {members[-1].run_id} ({len(members)} runs, mean)"
        out.append(Point(label, members[0].at, sum(p.value for p in members) / len(members), bool(flagged),
                         "; ".join(f"{p.run_id}: {p.note}" for p in flagged)))
    return out


def sparkline(values: Sequence[float], width: int = 120, height: int = 24, marks: Sequence[int] = ()) -> str:
    """An inline SVG polyline of ``values`` (empty for fewer than two), anomalies at ``marks`` in red."""
    if len(values) < 2:
        return ""
    groups = _groups(len(values), SPARK_POINTS)
    marked = set(marks)
    values = [sum(values[i] for i in g) / len(g) for g in groups]
    marks = [k for k, g in enumerate(groups) if marked.intersection(g)]
    if len(values) < 2:
        return ""
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    step = width / (len(values) - 1)
    xy = [(i * step, height - 2 - (v - lo) / span * (height - 4)) for i, v in enumerate(values)]
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    dots = "".join(f'<circle class="anomaly" cx="{xy[i][0]:.1f}" cy="{xy[i][1]:.1f}" r="2.5" fill="#cf222e"/>'
                   for i in marks)
    return (
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="trend"><polyline fill="none" stroke="currentColor" stroke-width="1.5" '
        f'points="{points}"/>{dots}</svg>'
    )


def chart(points: Sequence[Point], label: str, fmt: Callable[[float], str], width: int = 640,
          height: int = 160) -> str:
    """A time-series chart of ``points`` (oldest first) with axis labels, tooltips and anomaly marks."""
    if not points:
        return '<p class="muted">no data in this window</p>'
    drawn = len(points)
    points = thin(points)
    left, right, top, bottom = 64, 8, 10, 22
    t0, t1 = points[0].at.timestamp(), points[-1].at.timestamp()
    lo, hi = min(0.0, *(p.value for p in points)), max(p.value for p in points)
    xspan, yspan = (t1 - t0) or 1.0, (hi - lo) or 1.0

    def x(p: Point) -> float:
        return left + (p.at.timestamp() - t0) / xspan * (width - left - right) if t1 > t0 else left

    def y(v: float) -> float:
        return top + (hi - v) / yspan * (height - top - bottom)

    line = " ".join(f"{x(p):.1f},{y(p.value):.1f}" for p in points)
    dots = []
    for p in points:
        tip = html.escape(f"{p.run_id}: {fmt(p.value)}" + (f" — anomaly: {p.note}" if p.anomalous else ""))
        cls, r = ("anomaly", 4.5) if p.anomalous else ("pt", 2.5)
        fill = "#cf222e" if p.anomalous else "#0969da"
        dots.append(f'<circle class="{cls}" cx="{x(p):.1f}" cy="{y(p.value):.1f}" r="{r}" fill="{fill}">'
                    f"<title>{tip}</title></circle>")
    axis = (f'<text x="{left - 6}" y="{y(hi) + 4:.1f}" text-anchor="end">{html.escape(fmt(hi))}</text>'
            f'<text x="{left - 6}" y="{y(lo) + 4:.1f}" text-anchor="end">{html.escape(fmt(lo))}</text>'
            f'<text x="{left}" y="{height - 6}">{points[0].at:%Y-%m-%d}</text>'
            f'<text x="{width - right}" y="{height - 6}" text-anchor="end">{points[-1].at:%Y-%m-%d}</text>'
            f'<line x1="{left}" y1="{y(lo):.1f}" x2="{width - right}" y2="{y(lo):.1f}" stroke="#d0d7de"/>')
    return (f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{html.escape(label)}" data-points="{drawn}" data-drawn="{len(points)}">{axis}'
            f'<polyline fill="none" stroke="#0969da" stroke-width="1.5" points="{line}"/>{"".join(dots)}</svg>')
