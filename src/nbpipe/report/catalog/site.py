"""Render the static catalog site (``nbpipe docs``): an index with search, one page per dataset and pipeline.

Layout under the output directory (stable, so other pages can link into it)::

    index.html                  pipelines and datasets, with search
    datasets/<dataset>.html     one page per dataset
    pipelines/<pipeline>.html   one page per pipeline

Every page is self-contained and works from ``file://``: inline CSS and SVG, no fonts, images or
scripts from anywhere. Text from configs, contracts, the store and data files is autoescaped by
jinja2 (a ``<script>`` in a description is shown as text) and scrubbed. The index's search is the
one script of the site: a few lines inline, allowed by the page's Content-Security-Policy through
its SHA-256 hash only, so no other script could run even if markup slipped through. Without
scripts the index still lists everything. Pages are written to temporary files and renamed.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nbpipe.report._format import fmt, fmt_bytes, fmt_duration, fmt_time
from nbpipe.report.catalog.svg import lineage_svg, trend_svg
from nbpipe.report.sanitize import scrub

TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "catalog"
#: The catalog's default home under the runs directory (``nbpipe docs`` refuses a pipeline of this name), and the
#: link to it from a run report at ``<runs dir>/<pipeline>/<run_id>/report.html``.
CATALOG_DIR = "_catalog"
FROM_RUN_REPORT = f"../../{CATALOG_DIR}"
DATASETS_DIR, PIPELINES_DIR = "datasets", "pipelines"
BASE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
SEARCH_SCRIPT = """
(function () {
  var box = document.getElementById("search");
  var items = document.querySelectorAll("[data-search]");
  var count = document.getElementById("search-count");
  function filter() {
    var words = box.value.toLowerCase().split(/\\s+/).filter(Boolean);
    var shown = 0;
    items.forEach(function (item) {
      var text = item.getAttribute("data-search");
      var hit = words.every(function (w) { return text.indexOf(w) !== -1; });
      item.hidden = !hit;
      if (hit) { shown += 1; }
    });
    count.textContent = words.length ? shown + " of " + items.length + " match" : "";
  }
  box.addEventListener("input", filter);
  filter();
})();
"""


def script_csp(script: str) -> str:
    """The Content-Security-Policy that allows exactly ``script`` (by hash) and nothing else."""
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return f"{BASE_CSP}; script-src 'sha256-{digest}'"


def page_name(name: str) -> str:
    """The file name of a dataset's or pipeline's page (names are ``[A-Za-z0-9_]`` by config rule)."""
    return f"{name}.html"


def catalog_link(from_dir: Path, catalog_dir: Path, kind: str, name: str) -> str:
    """A relative link from a page in ``from_dir`` to a catalog page."""
    folder = DATASETS_DIR if kind == "dataset" else PIPELINES_DIR
    return Path(os.path.relpath(catalog_dir / folder / page_name(name), from_dir)).as_posix()


def _env() -> Any:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(fmt=fmt, size=fmt_bytes, duration=fmt_duration, time=fmt_time)
    return env


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(scrub(text), encoding="utf-8")
    os.replace(tmp, path)


def _graph(sub: dict[str, Any], here: Path, out: Path, focus: str) -> str:
    def href(node: dict[str, Any]) -> str | None:
        return None if node["id"] == focus else catalog_link(here, out, node["kind"], node["name"])

    return lineage_svg(sub["nodes"], sub["edges"], href, focus=focus)


def render_site(
    out: Path,
    *,
    project: str,
    datasets: Iterable[Any],
    pipelines: Iterable[Any],
    graphs: dict[str, dict[str, Any]],
    runs_dir: Path,
    now: dt.datetime,
    overview: dict[str, Any] | None = None,
) -> Path:
    """Write the site into ``out`` and return its ``index.html``.

    Args:
        out: The output directory (created).
        project: The project name shown in the header.
        datasets: :class:`nbpipe.ops.catalog.facts.DatasetFacts`-like objects.
        pipelines: :class:`nbpipe.ops.catalog.facts.PipelineFacts`-like objects.
        graphs: Per node id (``dataset:x``, ``pipeline:y``), its lineage sub-graph as
            :meth:`nbpipe.ops.lineage_graph.LineageGraph.to_dict` returns it.
        runs_dir: Where run directories live (``<runs_dir>/<pipeline>/<run_id>/report.html``).
        now: The build time.
        overview: The whole graph (same form as ``graphs``), drawn on the index.
    """
    env = _env()
    datasets, pipelines = list(datasets), list(pipelines)
    ds_dir, pl_dir = out / DATASETS_DIR, out / PIPELINES_DIR
    for folder in (ds_dir, pl_dir):
        folder.mkdir(parents=True, exist_ok=True)
    common = {"project": project, "generated": now.isoformat(timespec="seconds"), "csp": BASE_CSP}
    page = env.get_template("dataset.html.j2")
    for d in datasets:
        node = f"dataset:{d.name}"
        _write(ds_dir / page_name(d.name), page.render(
            **common, d=d, index="../index.html", graph=_graph(graphs[node], ds_dir, out, node),
            trend=trend_svg(d.rows_trend),
            link=lambda kind, name: catalog_link(ds_dir, out, kind, name)))
    page = env.get_template("pipeline.html.j2")
    for p in pipelines:
        node = f"pipeline:{p.name}"
        runs = []
        for run in p.runs:
            report = runs_dir / p.name / str(run["run_id"]) / "report.html"
            rel = Path(os.path.relpath(report, pl_dir)).as_posix() if report.exists() else None
            runs.append({**run, "link": rel})
        sub = graphs[node]
        edges = [e for e in sub["edges"] if node in (e["from"], e["to"])]
        _write(pl_dir / page_name(p.name), page.render(
            **common, p=p, index="../index.html", graph=_graph(sub, pl_dir, out, node), runs=runs,
            reads=[(e["from"].split(":", 1)[1], e) for e in edges if e["to"] == node],
            writes=[(e["to"].split(":", 1)[1], e) for e in edges if e["from"] == node],
            link=lambda kind, name: catalog_link(pl_dir, out, kind, name)))
    index = out / "index.html"
    _write(index, env.get_template("index.html.j2").render(
        **{**common, "csp": script_csp(SEARCH_SCRIPT)}, index="index.html", datasets=datasets, pipelines=pipelines,
        script=SEARCH_SCRIPT, link=lambda kind, name: catalog_link(out, out, kind, name),
        graph=lineage_svg(overview["nodes"], overview["edges"],
                          lambda n: catalog_link(out, out, n["kind"], n["name"])) if overview else ""))
    return index
