"""Inline SVG for the catalog: a layered lineage graph and a row-count trend chart.

Pure string building (every label escaped); no script, no external reference. The graph layout is
a simple layered one: each node's layer is the longest path to it from a source (edges that close
a cycle, such as a pipeline merging into a dataset it also reads, are ignored for layering), nodes
in a layer are ordered by the mean position of their predecessors, and edges are cubic curves
between the layers.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 150, 30, 60, 16, 8


def _layers(nodes: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for s, t in edges:
        succ[s].append(t)
    state: dict[str, int] = {}
    order: list[str] = []
    acyclic: list[tuple[str, str]] = []

    def visit(start: str) -> None:  # iterative DFS: post-order, dropping back edges
        stack: list[tuple[str, int]] = [(start, 0)]
        state[start] = 1
        while stack:
            node, i = stack.pop()
            if i < len(succ[node]):
                stack.append((node, i + 1))
                nxt = succ[node][i]
                if state.get(nxt) == 1:
                    continue  # a back edge: it closes a cycle
                acyclic.append((node, nxt))
                if nxt not in state:
                    state[nxt] = 1
                    stack.append((nxt, 0))
            else:
                state[node] = 2
                order.append(node)

    for n in nodes:
        if n not in state:
            visit(n)
    layer = {n: 0 for n in nodes}
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    for s, t in acyclic:
        preds[t].append(s)
    for n in reversed(order):  # reverse post-order is a topological order of the acyclic edges
        for p in preds[n]:
            layer[n] = max(layer[n], layer[p] + 1)
    return layer


def lineage_svg(nodes: Sequence[dict[str, Any]], edges: Sequence[dict[str, Any]],
                href: Callable[[dict[str, Any]], str | None], focus: str | None = None) -> str:
    """An SVG of ``nodes`` (``id``, ``kind``, ``name``) and ``edges`` (``from``, ``to``, ``undeclared``).

    ``href(node)`` gives each node's link (None: not linked); ``focus`` (a node id) is highlighted.
    """
    if not nodes:
        return ""
    ids = [n["id"] for n in nodes]
    pairs = [(e["from"], e["to"]) for e in edges if e["from"] in ids and e["to"] in ids]
    layer = _layers(sorted(ids), sorted(pairs))
    columns: dict[int, list[str]] = {}
    for n in sorted(ids):
        columns.setdefault(layer[n], []).append(n)
    pos: dict[str, tuple[float, float]] = {}
    preds: dict[str, list[str]] = {}
    for s, t in pairs:
        preds.setdefault(t, []).append(s)
    for col in sorted(columns):
        names = columns[col]
        if col:
            def rank(n: str) -> tuple[float, str]:
                ys = [pos[p][1] for p in preds.get(n, []) if p in pos]
                return (sum(ys) / len(ys) if ys else 1e9, n)

            names.sort(key=rank)
        for i, n in enumerate(names):
            pos[n] = (PAD + col * (NODE_W + GAP_X), PAD + i * (NODE_H + GAP_Y))
    width = PAD * 2 + (max(columns) + 1) * (NODE_W + GAP_X) - GAP_X
    height = PAD * 2 + max(len(c) for c in columns.values()) * (NODE_H + GAP_Y) - GAP_Y
    parts = [f'<svg class="lineage" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="lineage graph">',
             '<defs><marker id="lineage-arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" '
             'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#8c959f"/></marker></defs>']
    for e in edges:
        if e["from"] not in pos or e["to"] not in pos:
            continue
        (x1, y1), (x2, y2) = pos[e["from"]], pos[e["to"]]
        x1, y1, y2 = x1 + NODE_W, y1 + NODE_H / 2, y2 + NODE_H / 2
        if x2 <= x1:  # an edge back to an earlier layer: loop below the nodes
            d = f"M{x1:.0f},{y1:.0f} C{x1 + 40:.0f},{y1 + 40:.0f} {x2 - 40:.0f},{y2 + 40:.0f} {x2:.0f},{y2:.0f}"
        else:
            mid = (x1 + x2) / 2
            d = f"M{x1:.0f},{y1:.0f} C{mid:.0f},{y1:.0f} {mid:.0f},{y2:.0f} {x2:.0f},{y2:.0f}"
        cls = "edge undeclared" if e.get("undeclared") else "edge"
        parts.append(f'<path class="{cls}" d="{d}" marker-end="url(#lineage-arrow)"/>')
    for node in nodes:
        x, y = pos[node["id"]]
        label = node["name"] if len(node["name"]) <= 20 else node["name"][:19] + "…"
        cls = f"node {node['kind']}" + (" focus" if node["id"] == focus else "")
        rx = 15 if node["kind"] == "pipeline" else 3
        shape = (f'<rect x="{x:.0f}" y="{y:.0f}" width="{NODE_W}" height="{NODE_H}" rx="{rx}"/>'
                 f'<text x="{x + NODE_W / 2:.0f}" y="{y + NODE_H / 2 + 4:.0f}">{html.escape(label)}</text>'
                 f"<title>{html.escape(node['kind'])} {html.escape(node['name'])}</title>")
        link = href(node)
        body = f'<a href="{html.escape(link)}">{shape}</a>' if link else shape
        parts.append(f'<g class="{cls}">{body}</g>')
    parts.append("</svg>")
    return "".join(parts)


def trend_svg(points: Sequence[tuple[str, int]], width: int = 480, height: int = 120) -> str:
    """A row-count chart: a polyline over the runs, with the min and max labelled."""
    if not points:
        return ""
    values = [v for _, v in points]
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1
    left, bottom, top = 56, 18, 8
    step = (width - left - 8) / max(len(values) - 1, 1)
    xy = [(left + i * step, top + (height - top - bottom) * (1 - (v - lo) / span)) for i, v in enumerate(values)]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5"><title>{html.escape(at[:16])}: {v:,} rows</title>'
                   f"</circle>" for (x, y), (at, v) in zip(xy, points, strict=True))
    return (f'<svg class="trend" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="rows written per run">'
            f'<text x="4" y="{top + 8}">{hi:,}</text><text x="4" y="{height - bottom}">{lo:,}</text>'
            f'<line x1="{left}" y1="{height - bottom + 4}" x2="{width - 4}" y2="{height - bottom + 4}"/>'
            f'<polyline points="{line}"/>{dots}'
            f'<text x="{left}" y="{height - 2}">{html.escape(points[0][0][:10])}</text>'
            f'<text x="{width - 4}" y="{height - 2}" text-anchor="end">{html.escape(points[-1][0][:10])}</text></svg>')
