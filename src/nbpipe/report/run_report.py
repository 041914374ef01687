"""The run report: one self-contained, sanitized ``report.html`` per run (summary first, then notebook).

This module owns turning a run record (the ``run.json`` dict) and the executed notebook into HTML.
It is an adapter: nbconvert (``HTMLExporter``, in-process, with the ``templates/report`` template
that extends nbconvert's ``lab`` markup) renders the notebook, jinja2 renders the summary, and nh3
sanitizes every piece of HTML that came from a notebook (outputs, markdown, raw cells).

What the page guarantees:

* **Self-contained** – no ``<script>`` at all, no external CSS/fonts, images only as ``data:`` URIs,
  and a ``Content-Security-Policy`` that forbids scripts and any fetch as a second line of defence.
* **Sanitized** – ``application/javascript`` and widget outputs are dropped; HTML outputs, markdown
  and raw cells pass through :func:`sanitize_html`; ``mask`` hides secret values everywhere.
* **Bounded** – each output is cut to ``max_output_chars`` (head and tail kept, with a note that
  ``output.ipynb`` has it all) and all outputs together to ``max_total_chars``.

nbconvert is imported lazily and the exporter is cached per process: the import costs ~3 s and the
first export ~0.6 s, later exports ~0.02 s.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbpipe.core.records import nbpipe_version
from nbpipe.errors import NotebookError

if TYPE_CHECKING:  # pragma: no cover
    import jinja2
    from nbconvert import HTMLExporter
    from nbformat import NotebookNode
from nbpipe.report._format import as_dict, as_list, badge, fmt, fmt_bytes, fmt_duration, fmt_time, fmt_usd
from nbpipe.report.catalog.site import FROM_RUN_REPORT as CATALOG_FROM_REPORT
from nbpipe.report.resources_view import resources_view
from nbpipe.report.sanitize import REPORT_CSP, clean_value, sanitize_html, scrub

__all__ = [
    "DEFAULT_MAX_IMAGE_CHARS", "DEFAULT_MAX_OUTPUT_CHARS", "DEFAULT_MAX_TOTAL_CHARS", "REPORT_CSP",
    "render_report", "sanitize_html",
]  # fmt: skip

TEMPLATE_DIR = Path(__file__).parent / "templates"
DEFAULT_MAX_OUTPUT_CHARS = 200_000
DEFAULT_MAX_IMAGE_CHARS = 2_000_000
DEFAULT_MAX_TOTAL_CHARS = 5_000_000
_PAPERMILL_MARKER_TAG = "papermill-error-cell-tag"
_DROPPED_MIMETYPES = (
    "application/javascript", "text/javascript",
    "application/vnd.jupyter.widget-view+json", "application/vnd.jupyter.widget-state+json",
)  # fmt: skip
_IMAGE_MIMETYPES = ("image/png", "image/jpeg", "image/gif", "image/svg+xml")
_DISPLAY_PRIORITY = [
    "text/html", "text/markdown", "image/svg+xml", "text/vnd.mermaid", "text/latex",
    "image/png", "image/jpeg", "text/plain",
]  # fmt: skip
_CELL_STATUSES = ("ok", "error", "not_run", "stopped")

_LOCK = threading.Lock()
_EXPORTER: HTMLExporter | None = None
_SUMMARY_ENV: jinja2.Environment | None = None


# --------------------------------------------------------------------------------------------
# formatting
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# notebook preparation: drop scripts, mask, bound sizes, number cells
# --------------------------------------------------------------------------------------------
class _Budget:
    """Per-output and whole-notebook character limits, and the truncation note."""

    def __init__(self, per_output: int, per_image: int, total: int, source_name: str) -> None:
        self.per_output, self.per_image, self.left = per_output, per_image, total
        self.source_name = source_name
        self.cut_outputs = 0

    def note(self, what: str) -> str:
        return f"\x1b[43m\x1b[30m ··· nbpipe: {what}; {self.source_name} has the complete output ··· \x1b[0m"

    def clip(self, text: str) -> str:
        """Cut ``text`` to the per-output limit keeping head and tail, and charge the budget."""
        limit = min(self.per_output, max(self.left, 0))
        if len(text) > limit:
            self.cut_outputs += 1
            head, tail = text[: limit * 3 // 5], text[len(text) - limit * 2 // 5 :] if limit else ""
            if "\n" in head[-2000:]:
                head = head[: head.rindex("\n") + 1]
            if "\n" in tail[:2000]:
                tail = tail[tail.index("\n") + 1 :]
            cut = text[len(head) : len(text) - len(tail)]
            what = f"{len(cut):,} characters ({cut.count(chr(10)):,} lines) cut here"
            text = f"{head}\n{self.note(what)}\n{tail}"
        self.left -= len(text)
        return text


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _prepare_output(output: Any, budget: _Budget, mask: Callable[[str], str] | None) -> Any:
    """Return a masked, bounded, script-free copy of one output (or ``None`` to drop it)."""
    kind = output.get("output_type")
    output.get("metadata", {}).pop("filenames", None)
    if kind == "stream":
        output["text"] = budget.clip(clean_value(_text(output.get("text", "")), mask))
    elif kind == "error":
        output["ename"] = clean_value(str(output.get("ename", "")), mask)
        output["evalue"] = clean_value(str(output.get("evalue", "")), mask)
        lines = budget.clip("\n".join(clean_value([_text(x) for x in output.get("traceback", [])], mask)))
        output["traceback"] = lines.split("\n")
    elif kind in ("display_data", "execute_result"):
        data = output.get("data", {})
        dropped = [m for m in _DROPPED_MIMETYPES if data.pop(m, None) is not None]
        for mime in list(data):
            value = data[mime]
            if mime in _IMAGE_MIMETYPES:
                size = len(_text(value))
                if size > budget.per_image or size > budget.left:
                    del data[mime]
                    plain = _text(data.get("text/plain", ""))
                    data["text/plain"] = f"{plain}\n{budget.note(f'{mime} image of {size:,} bytes omitted')}"
                else:
                    budget.left -= size
            elif mime.startswith("text/") or mime.endswith(("+json", "/json")):
                text = value if isinstance(value, (str, list)) else json.dumps(value, default=str)
                text = clean_value(_text(text), mask)
                if mime == "text/html" and len(text) > min(budget.per_output, budget.left):
                    del data[mime]  # cut HTML would be broken markup: fall back to text
                    plain = budget.clip(clean_value(_text(data.get("text/plain", "")), mask))
                    data["text/plain"] = (
                        f"{plain}\n{budget.note(f'HTML output of {len(text):,} characters omitted')}"
                    )
                    continue
                data[mime] = budget.clip(text) if mime.startswith("text/") else text
        if dropped:
            plain = _text(data.get("text/plain", ""))
            data["text/plain"] = f"{plain}\n[{', '.join(dropped)} output omitted: the report runs no scripts]"
        if not data:
            return None
    return output


def _merge_streams(outputs: list[Any]) -> list[Any]:
    """Join consecutive stream outputs of the same stream, so truncation sees one logical text."""
    merged: list[Any] = []
    for out in outputs:
        prev = merged[-1] if merged and merged[-1].get("output_type") == "stream" else None
        if prev is not None and out.get("output_type") == "stream" and prev.get("name") == out.get("name"):
            prev["text"] = _text(prev.get("text", "")) + _text(out.get("text", ""))
        else:
            merged.append(out)
    return merged


def _cell_duration(cell: Any) -> float | None:
    pm = cell.get("metadata", {}).get("papermill", {})
    if isinstance(pm.get("duration"), (int, float)):
        return float(pm["duration"])
    timing = cell.get("metadata", {}).get("execution", {})
    try:
        start = dt.datetime.fromisoformat(str(timing["iopub.execute_input"]).replace("Z", "+00:00"))
        end = dt.datetime.fromisoformat(str(timing["shell.execute_reply"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return None
    return (end - start).total_seconds()


def _has_error(cell: Any) -> bool:
    return any(o.get("output_type") == "error" for o in cell.get("outputs", []))


def _prepare_notebook(nb: NotebookNode, mask: Callable[[str], str] | None, budget: _Budget) -> None:
    """Drop papermill's error-marker cells and widget state, then mask, bound and number cells.

    Cells are numbered after removing papermill's marker cells, so ``cell-N`` matches both
    papermill's ``cell_index`` and the engine's cell index in ``run.json``.
    """
    nb.metadata.pop("widgets", None)
    nb.cells = [c for c in nb.cells if _PAPERMILL_MARKER_TAG not in c.get("metadata", {}).get("tags", [])]
    for index, cell in enumerate(nb.cells):
        cell.source = budget.clip(clean_value(_text(cell.get("source", "")), mask))
        cell.metadata["nbpipe"] = {"index": index}
        if cell.get("cell_type") == "code":
            outputs = [
                _prepare_output(o, budget, mask) for o in _merge_streams(list(cell.get("outputs", [])))
            ]
            cell.outputs = [o for o in outputs if o is not None]


def _load_notebook(path: Path) -> tuple[NotebookNode, list[str]]:
    """Read the notebook tolerantly: bad bytes are replaced; a missing file gives an empty notebook."""
    import nbformat

    try:
        raw = path.read_bytes()
    except OSError as exc:
        return nbformat.v4.new_notebook(), [f"The executed notebook {path} could not be read ({exc})."]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return nbformat.reads(raw.decode("utf-8", "replace"), as_version=4), []
    except Exception as exc:  # nbformat raises several unrelated types for corrupt files
        note = f"The executed notebook {path} is not a valid notebook ({type(exc).__name__}: {exc})."
        return nbformat.v4.new_notebook(), [note]


# --------------------------------------------------------------------------------------------
# summary
# --------------------------------------------------------------------------------------------
def _cell_rows(record: dict[str, Any], nb: NotebookNode) -> list[dict[str, Any]]:
    """Per-cell rows from ``record['cells']``, else from the notebook's own timing metadata."""
    keys = ("index", "execution_count", "first_line", "status", "seconds")
    rows = [
        dict(zip(keys, (c.get("index"), c.get("execution_count"), c.get("first_line"),
                        c.get("status") if c.get("status") in _CELL_STATUSES else "ok", c.get("duration_s"))))
        for c in record["cells"]
    ]  # fmt: skip
    for index, cell in enumerate(nb.cells if not rows else []):
        if cell.get("cell_type") == "code":
            ran = cell.get("execution_count") is not None or bool(cell.get("outputs"))
            lines = [ln for ln in cell.source.splitlines() if ln.strip()] or [""]
            status = "error" if _has_error(cell) else ("ok" if ran else "not_run")
            values = (index, cell.get("execution_count"), lines[0], status, _cell_duration(cell))
            rows.append(dict(zip(keys, values)))
    numbers = [r["seconds"] for r in rows if isinstance(r["seconds"], (int, float))]
    longest = max(numbers, default=0) or 1
    for row in rows:
        seconds = row["seconds"] if isinstance(row["seconds"], (int, float)) else None
        valid = isinstance(row["index"], int) and 0 <= row["index"] < len(nb.cells)
        row["anchor"] = f"cell-{row['index']}" if valid else None
        row["bar_pct"] = round(100 * seconds / longest, 1) if seconds is not None else 0
        if valid:
            meta = nb.cells[row["index"]].metadata["nbpipe"]
            meta["duration"] = fmt_duration(seconds) if seconds is not None else None
            meta["not_run"] = row["status"] == "not_run"
    return rows


def _stopped(record: dict[str, Any], nb: NotebookNode) -> dict[str, Any] | None:
    """The "stopped early" box of a run whose notebook ended cleanly with ``sys.exit()`` (it succeeded)."""
    note = record.get("stopped_early")
    if record.get("status") != "succeeded" or not isinstance(note, dict):
        return None
    index = note.get("cell_index")
    valid = isinstance(index, int) and 0 <= index < len(nb.cells)
    if valid:
        nb.cells[index].metadata["nbpipe"]["stopped"] = True
    return {"message": str(note.get("message") or "the notebook stopped early"),
            "anchor": f"cell-{index}" if valid else None}


def _failure(record: dict[str, Any], nb: NotebookNode, budget: _Budget) -> dict[str, Any] | None:
    """The failure box: the record's error, else the first error output of the notebook."""
    from markupsafe import Markup
    from nbconvert.filters.ansi import ansi2html

    error = dict(record["error"])
    errored = [i for i, c in enumerate(nb.cells) if _has_error(c)]
    if not error and not errored and record.get("status") != "failed":
        return None
    index = error.get("cell_index")
    if not (isinstance(index, int) and 0 <= index < len(nb.cells)) or (errored and index not in errored):
        index = errored[0] if errored else None
    traceback = [_text(x) for x in as_list(error.get("traceback"))]
    if index is not None:
        cell = nb.cells[index]
        cell.metadata["nbpipe"]["failed"] = True
        failing = next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)
        if failing is not None:
            error.setdefault("ename", failing.get("ename"))
            error.setdefault("evalue", failing.get("evalue"))
            traceback = traceback or list(failing.get("traceback", []))
    count = nb.cells[index].get("execution_count") if index is not None else None
    return {
        "heading": "Run failed" if record.get("status") != "succeeded" else "A cell raised",
        "type": error.get("type") or error.get("ename") or "Error",
        "message": error.get("message") or error.get("evalue") or "",
        "hint": error.get("hint"),
        "anchor": f"cell-{index}" if index is not None else None,
        "cell_label": f"In [{count}], cell {index}" if count is not None else f"cell {index}",
        "traceback": Markup(ansi2html(budget.clip("\n".join(traceback)))) if traceback else "",
    }


_NAV_LABELS = {"resources": "Resources", "params": "Parameters", "checks": "Quality checks",
               "state": "Incremental state"}
_SECTIONS: dict[str, type] = {
    "params": dict, "secret_params": list, "attempts": list, "error": dict, "cells": list,
    "checks": list, "datasets": dict, "metrics": dict, "state": dict, "warnings": list,
    "versions": dict, "git": dict, "artifacts": dict,
}  # fmt: skip


def _normalized(record: dict[str, Any]) -> dict[str, Any]:
    """Coerce every record section to its schema type so the template never meets surprises."""
    out = dict(record)
    for key, kind in _SECTIONS.items():
        out[key] = out.get(key) if isinstance(out.get(key), kind) else kind()
    for key in ("attempts", "checks", "cells"):
        out[key] = [x for x in out[key] if isinstance(x, dict)]
    for check in out["checks"]:
        check["statistics"] = as_dict(check.get("statistics"))
        check["results"] = [x for x in as_list(check.get("results")) if isinstance(x, dict)]
    datasets = out["datasets"]
    out["datasets"] = {
        d: [x for x in as_list(datasets.get(d)) if isinstance(x, dict)] for d in ("inputs", "outputs")
    }
    before, after = (as_dict(out["state"].get(k)) for k in ("before", "after"))
    out["state"] = [(k, before.get(k), after.get(k)) for k in {**before, **after}]
    return out


def _summary_view(record: dict[str, Any], nb: NotebookNode, budget: _Budget) -> dict[str, Any]:
    """What the summary template needs beyond the record: failure box, cell rows, navigation."""
    stopped = _stopped(record, nb)
    failure = None if stopped else _failure(record, nb, budget)
    cells = _cell_rows(record, nb)
    present = {
        "failure": failure, "params": record["params"], "attempts": record["attempts"],
        "checks": record["checks"], "datasets": record["datasets"]["inputs"] or record["datasets"]["outputs"],
        "lineage": record["datasets"]["inputs"] or record["datasets"]["outputs"],
        "metrics": record["metrics"], "resources": resources_view(record), "state": record["state"], "cells": cells,
        "environment": record["versions"] or record["git"] or record.get("host"), "notebook": True,
    }  # fmt: skip
    quality = record.get("quality")
    return {
        "status": str(record.get("status") or "unknown"),
        "quality": quality if quality not in (None, "none", "") else None,
        "pipeline": record.get("pipeline") or "notebook run",
        "failure": failure,
        "stopped": stopped,
        "cells": cells,
        "catalog": CATALOG_FROM_REPORT,
        "resources": present["resources"],
        "nav": [
            (f"nbpipe-{key}", _NAV_LABELS.get(key, key.capitalize()))
            for key, value in present.items()
            if value
        ],
    }


# --------------------------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------------------------
def _exporter() -> HTMLExporter:
    """Return the process-wide HTMLExporter (created on first use; callers hold ``_LOCK``)."""
    global _EXPORTER
    if _EXPORTER is None:
        from nbconvert import HTMLExporter
        from traitlets.config import Config

        config = Config({"NbConvertBase": {"display_data_priority": _DISPLAY_PRIORITY}})
        exporter = HTMLExporter(
            config=config,
            extra_template_basedirs=[str(TEMPLATE_DIR)],
            template_name="report",
            sanitize_html=True,
            embed_images=False,
            exclude_anchor_links=False,
        )
        exporter.register_filter("clean_html", sanitize_html)
        quiet = logging.getLogger("nbpipe.report.run_report.nbconvert")  # not "image lacks alt text" per render
        quiet.setLevel(logging.ERROR)
        exporter.log = quiet
        _EXPORTER = exporter
    return _EXPORTER


def _summary_env() -> jinja2.Environment:
    """Return the autoescaping jinja2 environment of the summary, with the formatting filters."""
    global _SUMMARY_ENV
    if _SUMMARY_ENV is None:
        import jinja2

        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR / "report")),
            autoescape=True,
            undefined=jinja2.ChainableUndefined,
        )
        env.filters.update(
            fmt=fmt, duration=fmt_duration, size=fmt_bytes, time=fmt_time, badge=badge, usd=fmt_usd
        )
        _SUMMARY_ENV = env
    return _SUMMARY_ENV


def render_report(
    record: dict[str, Any],
    notebook_path: Path,
    out_path: Path,
    *,
    mask: Callable[[str], str] | None = None,
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
    max_image_chars: int = DEFAULT_MAX_IMAGE_CHARS,
    max_total_chars: int = DEFAULT_MAX_TOTAL_CHARS,
) -> Path:
    """Write the self-contained, sanitized HTML report of one run and return its path.

    Args:
        record: The run record (``run.json`` schema v1). Every section is optional; a plain
            papermill run with only ``status`` renders too.
        notebook_path: The executed notebook (``output.ipynb``). A missing or corrupt file
            yields a report with the summary and a note instead of the notebook.
        out_path: Where to write the HTML (parent directories are created).
        mask: Replaces secret values by ``***`` in a string; applied to every text taken from
            the record and the notebook before it is rendered.
        max_output_chars: Longest text kept per output (head and tail, with a note).
        max_image_chars: Largest embedded image (base64 characters) kept per output.
        max_total_chars: Budget for all outputs together; later outputs become a note.

    Returns:
        ``out_path``.

    Raises:
        NotebookError: the report could not be rendered or written (the run's other artifacts
            are untouched).

    Example:
        >>> render_report({"status": "failed"}, Path("out.ipynb"), Path("report.html"))  # doctest: +SKIP
    """
    notebook_path, out_path = Path(notebook_path), Path(out_path)
    try:
        html = _render(
            record,
            notebook_path,
            mask,
            _Budget(max_output_chars, max_image_chars, max_total_chars, notebook_path.name),
        )
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise NotebookError(
            f"could not write the run report {out_path}: {exc}",
            hint="check that the run directory exists and is writable; output.ipynb and run.json are intact",
        ) from exc
    except Exception as exc:  # a template or exporter failure must not hide the run's own outcome
        raise NotebookError(
            f"could not render the run report {out_path} from {notebook_path}: {type(exc).__name__}: {exc}",
            hint="the executed notebook and run.json are intact; please report this as an nbpipe bug",
        ) from exc
    return out_path


def _render(
    record: dict[str, Any], notebook_path: Path, mask: Callable[[str], str] | None, budget: _Budget
) -> str:
    """Build the whole HTML document (see :func:`render_report`)."""
    clean = _normalized(clean_value(dict(record), mask))
    nb, notes = _load_notebook(notebook_path)
    _prepare_notebook(nb, mask, budget)
    view = _summary_view(clean, nb, budget)
    if budget.cut_outputs:
        notes.append(
            f"{budget.cut_outputs} output(s) were shortened for this report; "
            f"{notebook_path.name} next to it has every output in full."
        )
    with _LOCK:
        resources = {
            "nbpipe": {
                "summary": _summary_env().get_template("summary.html.j2").render(r=clean, v=view),
                "css": (TEMPLATE_DIR / "report" / "report.css").read_text(encoding="utf-8"),
                "csp": REPORT_CSP,
                "title": f"{view['status']} · {view['pipeline']} · {clean.get('run_id') or ''}",
                "notebook_name": notebook_path.name,
                "notebook_notes": notes,
                "version": nbpipe_version(),
            }
        }
        html, _ = _exporter().from_notebook_node(nb, resources=resources)
    return scrub(html)
