"""The panel's recent-runs table and its promote view (both through the ``nbpipe`` CLI).

Recent runs come from ``nbpipe panel-runs PIPELINE`` (status, started, duration, quality, rows
written, report). Promote shows what ``nbpipe promote PIPELINE --dry-run --json`` would change
(contracts with their diffs, suites, the pipeline's typed parameters in nbpipe.yaml) and applies
it with ``nbpipe promote PIPELINE --reuse RUN_ID`` on confirmation; a breaking contract change
needs a second confirmation and is applied with ``--yes``.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from nbpipe.kernel.widgets._cli import Cli, CliError
from nbpipe.kernel.widgets.links import lab_url

_COLORS = {"succeeded": "#1a7f37", "failed": "#cf222e", "cancelled": "#9a6700", "running": "#0969da"}


def error_html(exc: CliError) -> str:
    hint = f"<br><b>hint:</b> {html.escape(exc.hint)}" if exc.hint else ""
    return f"<div class='nbpipe-error' style='color:#cf222e'><b>error:</b> {html.escape(exc.message)}{hint}</div>"


def runs_html(rows: Sequence[Mapping[str, Any]]) -> str:
    """The recent runs as an escaped HTML table with a report link per run."""
    if not rows:
        return "<p class='nbpipe-runs'>No runs yet.</p>"
    e = html.escape
    body = []
    for r in rows:
        status = str(r.get("status"))
        dur = r.get("duration_s")
        report = f"<a href='{e(lab_url(r['report']))}' target='_blank'>report</a>" if r.get("report") else ""
        written = "" if r.get("rows_written") is None else str(r["rows_written"])
        body.append(
            f"<tr data-run-id='{e(str(r.get('run_id')))}'><td><code>{e(str(r.get('run_id')))}</code></td>"
            f"<td style='color:{_COLORS.get(status, '#57606a')}'>{e(status)}</td>"
            f"<td>{e(str(r.get('started_at') or '')[:19])}</td>"
            f"<td>{'' if dur is None else f'{float(dur):.1f}s'}</td><td>{e(str(r.get('quality') or ''))}</td>"
            f"<td style='text-align:right'>{e(written)}</td><td>{report}</td></tr>")
    return ("<table class='nbpipe-runs'><tr><th>run id</th><th>status</th><th>started</th><th>duration</th>"
            "<th>quality</th><th>rows written</th><th></th></tr>" + "".join(body) + "</table>")


class RecentRuns:
    """The recent runs of one pipeline, with a refresh button."""

    def __init__(self, cli: Cli, pipeline: str, limit: int = 10) -> None:
        import ipywidgets as w

        self.cli, self.pipeline, self.limit = cli, pipeline, limit
        self.table = w.HTML("<i>loading…</i>")
        self.refresh_button = w.Button(description="Refresh", icon="refresh", tooltip="reload from the run store")
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.widget = w.VBox([w.HBox([w.HTML("<b>Recent runs</b>"), self.refresh_button]), self.table])

    def rows(self) -> list[dict[str, Any]]:
        return list(self.cli.json("panel-runs", self.pipeline, "--limit", str(self.limit), timeout=120))

    def refresh(self) -> None:
        try:
            self.table.value = runs_html(self.rows())
        except CliError as exc:
            self.table.value = error_html(exc)


def diff_html(proposal: Mapping[str, Any]) -> str:
    """What promote would change: contracts (with breaking changes), suites, nbpipe.yaml."""
    e = html.escape
    parts = []
    for c in proposal.get("contracts") or []:
        diff = c.get("diff") or {}
        lines = [f"<li><b>{e(str(c.get('dataset')))}</b>: {e(str(c.get('status')))} "
                 f"{e(str(c.get('old_version') or '–'))} → {e(str(c.get('new_version') or '–'))}"]
        for text in diff.get("breaking_changes") or []:
            lines.append(f"<br><span style='color:#cf222e'>breaking: {e(str(text))}</span>")
        for text in diff.get("additive_changes") or []:
            lines.append(f"<br>added: {e(str(text))}")
        parts.append("".join(lines) + "</li>")
    suites = "".join(f"<li>{e(str(s.get('dataset')))}: {e(str(s.get('status')))} "
                     f"(+{len(s.get('added') or [])} / −{len(s.get('removed') or [])})</li>"
                     for s in proposal.get("suites") or [])
    config = proposal.get("config_diff") or ""
    return (f"<div class='nbpipe-promote'><p><b>Contracts</b></p><ul>{''.join(parts) or '<li>none</li>'}</ul>"
            f"<p><b>Suites</b></p><ul>{suites or '<li>none</li>'}</ul>"
            f"<p><b>nbpipe.yaml</b> (typed parameters, reads, writes)</p>"
            f"<pre>{e(str(config)) or 'unchanged'}</pre></div>")


def breaking(proposal: Mapping[str, Any]) -> list[str]:
    """The datasets whose contract change would break readers."""
    return [str(c.get("dataset")) for c in proposal.get("contracts") or []
            if (c.get("diff") or {}).get("breaking") and c.get("status") == "updated"]


class PromoteView:
    """Preview, confirm (twice for breaking changes) and apply ``nbpipe promote``."""

    def __init__(self, cli: Cli, pipeline: str, after: Callable[[], None] | None = None) -> None:
        import ipywidgets as w

        self.cli, self.pipeline, self.after = cli, pipeline, after
        self.proposal: dict[str, Any] | None = None
        self.preview_button = w.Button(description="Preview promote", icon="eye",
                                       tooltip="explore-run the notebook and show what nbpipe promote would change")
        self.apply_button = w.Button(description="Apply", button_style="warning", disabled=True)
        self.accept_breaking = w.Checkbox(value=False, description="I accept the breaking changes (major version)",
                                          indent=False, layout=w.Layout(display="none"))
        self.output = w.HTML("")
        self.preview_button.on_click(lambda _b: self._background(self.preview))
        self.apply_button.on_click(lambda _b: self._background(self.apply))
        self.widget = w.VBox([w.HBox([self.preview_button, self.apply_button, self.accept_breaking]), self.output])

    def _background(self, fn: Callable[[], None]) -> None:
        threading.Thread(target=fn, name="nbpipe-panel-promote", daemon=True).start()

    def preview(self) -> None:
        self.preview_button.disabled, self.apply_button.disabled = True, True
        self.output.value = "<i>running the notebook in explore mode…</i>"
        try:
            self.proposal = self.cli.json("promote", self.pipeline, "--dry-run", "--json", timeout=3600)
        except CliError as exc:
            self.output.value = error_html(exc)
            return
        finally:
            self.preview_button.disabled = False
        risky = breaking(self.proposal)
        self.accept_breaking.value = False
        self.accept_breaking.layout.display = "" if risky else "none"
        self.output.value = diff_html(self.proposal) + (
            f"<p style='color:#cf222e'>Breaking for {html.escape(', '.join(risky))}: tick the box to confirm, "
            "then Apply.</p>" if risky else "")
        self.apply_button.disabled = False

    def apply(self) -> None:
        if self.proposal is None:
            return
        if breaking(self.proposal) and not self.accept_breaking.value:
            self.output.value += "<p style='color:#cf222e'>Breaking changes need the second confirmation.</p>"
            return
        args = ["promote", self.pipeline, "--reuse", str(self.proposal.get("run_id")), "--json"]
        if self.accept_breaking.value:
            args.insert(2, "--yes")
        self.apply_button.disabled = True
        try:
            done = self.cli.json(*args, timeout=3600)
        except CliError as exc:
            self.output.value = error_html(exc)
            return
        written = ", ".join(str(p) for p in done.get("written") or []) or "nothing (already up to date)"
        self.output.value = f"<p class='nbpipe-promoted'>Promoted: wrote {html.escape(written)}.</p>"
        self.proposal = None
        if self.after is not None:
            self.after()
