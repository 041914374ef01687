"""``ctx.panel()``: parameters, Run in production, recent runs and promote for one pipeline.

The panel is a :class:`~nbpipe.data._display.ShownOnce` object: ``ctx.panel()`` shows it once under
the cell. At a Jupyter kernel with ipywidgets its output holds the widget view *and* a static HTML
page with the equivalent ``nbpipe`` commands, which any front end without the widget manager (or
nbconvert) renders instead; in a kernel started by ``nbpipe run`` only the HTML is produced.
"""

from __future__ import annotations

import html
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbpipe.data._display import ShownOnce, widgets_wanted
from nbpipe.errors import ConfigError, did_you_mean
from nbpipe.kernel.widgets._cli import Cli, CliError, shell_line
from nbpipe.kernel.widgets.controller import Outcome, RunController
from nbpipe.kernel.widgets.links import lab_url

if TYPE_CHECKING:  # pragma: no cover
    from nbpipe.core.config import Project


def pipeline_for(project: Project, notebook: str | None) -> str:
    """The pipeline whose notebook is ``notebook`` (the open one), or a ConfigError with the snippet."""
    pipelines = project.config.pipelines
    if notebook:
        path = Path(notebook).resolve()
        for name, cfg in pipelines.items():
            if project.path(cfg.notebook).resolve() == path:
                return name
        try:
            shown = path.relative_to(project.root.resolve()).as_posix()
        except ValueError:
            shown = str(path)
        raise ConfigError(
            f"notebook {shown} is not the notebook of any pipeline in {project.source}",
            hint=f"add it to nbpipe.yaml:\n\npipelines:\n  {Path(shown).stem}:\n    notebook: {shown}\n\n"
            "(or run `nbpipe promote " + shown + "`), or name a pipeline: ctx.panel('PIPELINE')",
        )
    raise ConfigError("cannot tell which notebook is open (this is not a JupyterLab kernel)",
                      hint=f"name the pipeline: ctx.panel('PIPELINE'); declared: {', '.join(sorted(pipelines))}")


def check_pipeline(project: Project, pipeline: str) -> str:
    if pipeline not in project.config.pipelines:
        raise ConfigError(
            f"pipeline {pipeline!r} is not declared in {project.source}"
            + did_you_mean(pipeline, project.config.pipelines),
            hint=f"declared pipelines: {', '.join(sorted(project.config.pipelines)) or '(none)'}",
        )
    return pipeline


class Panel(ShownOnce):
    """One pipeline's panel; ``widget`` is built on first display (only at a Jupyter kernel)."""

    def __init__(self, project: Project, pipeline: str) -> None:
        self.project, self.pipeline = project, pipeline
        self.cli = Cli(project.root, project.profile_name)
        self._widget: Any = None

    def commands(self) -> list[str]:
        """The ``nbpipe`` commands equivalent to the panel's buttons."""
        p = self.pipeline
        return [f"nbpipe run {p} -p NAME=VALUE", f"nbpipe runs {p}", f"nbpipe promote {p} --dry-run",
                f"nbpipe promote {p}"]

    def display_parts(self) -> tuple[str, str, Callable[[], Any] | None]:
        text = f"nbpipe pipeline {self.pipeline}: " + "; ".join(self.commands())
        items = "".join(f"<li><code>{html.escape(c)}</code></li>" for c in self.commands())
        markup = (f"<div class='nbpipe-panel-static'><b>nbpipe pipeline <code>{html.escape(self.pipeline)}</code>"
                  "</b><p>Interactive widgets are not available here; the same from a terminal:</p>"
                  f"<ul>{items}</ul></div>")
        return text, markup, (self.widget if widgets_wanted() else None)

    def widget(self) -> Any:
        """The ipywidgets panel (built once)."""
        if self._widget is None:
            self._widget = PanelWidget(self.cli, self.pipeline).box
        return self._widget


class PanelWidget:
    """The widgets of the panel and what their buttons do."""

    def __init__(self, cli: Cli, pipeline: str) -> None:
        import ipywidgets as w

        from nbpipe.kernel.widgets.form import ParamForm, definitions
        from nbpipe.kernel.widgets.views import PromoteView, RecentRuns, error_html

        self.cli, self.pipeline = cli, pipeline
        title = w.HTML(f"<h3 style='margin:4px 0'>nbpipe · {html.escape(pipeline)}</h3>")
        try:
            spec = cli.json("panel-params", pipeline, timeout=120)
            defs, notes = definitions(spec["params"])
            self.form: ParamForm | None = ParamForm(defs, notes)
            form_box = self.form.widget
        except CliError as exc:
            self.form, form_box = None, w.HTML(error_html(exc))
        self.run_button = w.Button(description="Run in production", button_style="primary", icon="play",
                                   layout=w.Layout(width="auto"))
        self.cancel_button = w.Button(description="Cancel", button_style="danger", icon="stop", disabled=True)
        self.progress = w.IntProgress(value=0, min=0, max=1, description="cells", bar_style="info")
        self.progress.add_class("nbpipe-progress")
        self.cell = w.HTML("")
        self.status = w.HTML("")
        self.status.add_class("nbpipe-run-status")
        self.run_button.on_click(lambda _b: self.start())
        self.cancel_button.on_click(lambda _b: self.cancel())
        self.controller = RunController(cli, pipeline, self.on_event, self.on_done)
        self.runs = RecentRuns(cli, pipeline)
        self.promote = PromoteView(cli, pipeline, after=self.runs.refresh)
        threading.Thread(target=self.runs.refresh, name="nbpipe-panel-runs", daemon=True).start()
        self.started = 0.0
        run_box = w.VBox([w.HBox([self.run_button, self.cancel_button]), self.progress, self.cell, self.status])
        tabs = w.Tab(children=[w.VBox([form_box, run_box]), self.runs.widget, self.promote.widget])
        for i, name in enumerate(("Run", "Recent runs", "Promote")):
            tabs.set_title(i, name)
        self.box = w.VBox([title, tabs])
        self.box.add_class("nbpipe-panel")
        self._error_html = error_html

    def start(self) -> None:
        """Validate the form and start ``nbpipe run`` in the background."""
        if self.form is None:
            return
        args = self.form.validate()
        if args is None:
            self.status.value = "<span style='color:#cf222e'>Fix the parameters marked above.</span>"
            return
        self.progress.value, self.progress.max, self.progress.bar_style = 0, 1, "info"
        self.cell.value, self.status.value = "", "<i>starting…</i>"
        self.started = time.monotonic()
        self.controller.start(args.argv(), args.env)
        self.run_button.disabled, self.cancel_button.disabled = True, False

    def cancel(self) -> None:
        if self.controller.cancel():
            self.status.value = "<i>cancelling…</i>"

    def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "run_started":
            self.status.value = f"running: run <code>{html.escape(str(event.get('run_id')))}</code>"
        elif kind == "cell_started":
            self.progress.max = max(int(event.get("total") or 1), 1)
            self.progress.value = int(event.get("n") or 1) - 1
            self.cell.value = (f"cell {event.get('n')}/{event.get('total')} · "
                               f"<code>{html.escape(str(event.get('first_line') or ''))}</code> · "
                               f"{time.monotonic() - self.started:.1f}s")
        elif kind == "cell_finished":
            self.progress.value = int(event.get("n") or 0)

    def on_done(self, outcome: Outcome) -> None:
        self.run_button.disabled, self.cancel_button.disabled = False, True
        result = outcome.result
        if not result:
            self.progress.bar_style = "danger"
            self.status.value = self._error_html(outcome.error) if outcome.error else "run ended"
            self.runs.refresh()
            return
        status = str(result.get("status"))
        self.progress.bar_style = {"succeeded": "success", "skipped": "success", "cancelled": "warning"}.get(
            status, "danger")
        if status == "succeeded":
            self.progress.value = self.progress.max
        report = Path(str(result.get("report")))
        link = (f" · <a class='nbpipe-report-link' href='{html.escape(lab_url(report))}' target='_blank'>report</a>"
                if report.is_file() else "")
        error = f"<br>{html.escape(str(result.get('error')))}" if result.get("error") else ""
        self.status.value = (f"<b class='nbpipe-status-{html.escape(status)}'>{html.escape(status)}</b> · run "
                             f"<code>{html.escape(str(result.get('run_id')))}</code> · exit {outcome.exit_code}"
                             f" · {time.monotonic() - self.started:.1f}s{link}{error}")
        self.runs.refresh()

    def command_line(self) -> str:
        return shell_line(self.controller.argv) if self.controller.argv else ""


def panel(project: Project, pipeline: str | None = None) -> Panel:
    """The panel for ``pipeline`` (default: the pipeline of the open notebook), shown once."""
    name = check_pipeline(project, pipeline) if pipeline else pipeline_for(project, os.environ.get("JPY_SESSION_NAME"))
    shown = Panel(project, name)
    shown.show()
    return shown
