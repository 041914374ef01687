"""Inline SVG charts (no scripts, no external resources): a sparkline and a time-series chart.

Every text that goes into an SVG is escaped here; the templates mark the returned markup safe.
Points carry a ``<title>`` (the browser's own tooltip: run id and value) and anomalies a red mark.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

from nbpipe.report.dashboard.data import Point


def sparkline(values: Sequence[float], width: int = 120, height: int = 24, marks: Sequence[int] = ()) -> str:
    """An inline SVG polyline of ``values`` (empty for fewer than two), anomalies at ``marks`` in red."""
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
            f'aria-label="{html.escape(label)}" data-points="{len(points)}">{axis}'
            f'<polyline fill="none" stroke="#0969da" stroke-width="1.5" points="{line}"/>{"".join(dots)}</svg>')
