"""Explore-mode summaries of reads and writes: widgets or rich HTML in a notebook, text elsewhere.

Presentation over the event payloads the catalog emits (``dataset_read``, ``dataset_staged``):
schema, row counts, corrupt and rejected rows, the diff against the dataset's contract, a sample.
HTML is escaped; nothing here touches Spark (a read's sample arrives as a pandas frame).

Every rich display goes through :func:`show`: one output whose bundle holds text, static HTML and,
when a person works at a Jupyter kernel with ipywidgets, a widget view. A front end without the
widget manager (or nbconvert) renders the HTML; a kernel started by ``nbpipe run`` (papermill) never
creates widgets, so production notebooks and reports hold no dead widget views. :class:`ShownOnce`
keeps an object shown by the call that returned it from being shown again as the cell's value.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Mapping
from typing import Any

from nbpipe.core.protocol import read_handoff

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
ENV_WIDGETS = "NBPIPE_WIDGETS"  # "0": static HTML instead of widgets (documented)


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with Jupyter
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _execution_count() -> int | None:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return None
    shell = get_ipython()
    return None if shell is None else int(shell.execution_count)


def widgets_wanted() -> bool:
    """Whether to build widgets: a person's Jupyter kernel, ipywidgets installed, not disabled."""
    if not _in_kernel() or read_handoff(os.environ) is not None or os.environ.get(ENV_WIDGETS, "1") == "0":
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def bundle(text: str, markup: str, widget: Callable[[], Any] | None = None) -> dict[str, Any]:
    """The display bundle: text, HTML, and a widget view when :func:`widgets_wanted`."""
    data: dict[str, Any] = {"text/plain": text, "text/html": markup}
    if widget is not None and widgets_wanted():
        view = widget()
        data[WIDGET_MIME] = {"version_major": 2, "version_minor": 0, "model_id": view.model_id}
    return data


def show(text: str, markup: str, widget: Callable[[], Any] | None = None) -> None:
    """Show one output in a notebook (widget, else HTML), or print ``text`` outside a kernel."""
    if _in_kernel():
        from IPython.display import display

        display(bundle(text, markup, widget), raw=True)
    else:
        print(text)


class ShownOnce:
    """Mixin for results an explore call displays itself and also returns.

    The call shows the object and calls :meth:`mark_shown`; when the same cell then ends with the
    object as its value, IPython's display hook calls ``_ipython_display_``, which does nothing:
    the result appears once under the cell. Shown again in a later cell, it displays normally.
    """

    _nbpipe_shown_in: int | None = None

    def mark_shown(self) -> None:
        self._nbpipe_shown_in = _execution_count()

    def display_parts(self) -> tuple[str, str, Callable[[], Any] | None]:
        """``(text, html, widget factory or None)`` of this object."""
        raise NotImplementedError

    def show(self) -> None:
        """Display this object now and remember that this cell showed it."""
        show(*self.display_parts())
        self.mark_shown()

    def _ipython_display_(self) -> None:
        if self._nbpipe_shown_in is not None and self._nbpipe_shown_in == _execution_count():
            return
        show(*self.display_parts())


def _emit(text: str, markup: str, widget: Callable[[], Any] | None = None) -> None:
    show(text, markup, widget)


def _schema_rows(schema: list[Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    return [(str(f.get("name")), str(f.get("type")), "" if f.get("nullable", True) else "not null") for f in schema]


def read_text(event: Mapping[str, Any]) -> str:
    """Plain-text summary of a ``dataset_read`` event."""
    lines = [
        f"dataset {event.get('dataset')} ({event.get('format')}, {event.get('mode')}): {event.get('rows')} rows"
        f" from {event.get('files')} file(s), {event.get('bytes')} bytes",
    ]
    if event.get("corrupt_rows"):
        lines.append(f"  corrupt rows (in _corrupt_record): {event['corrupt_rows']}")
    if event.get("rejected_rows"):
        lines.append(f"  rejected rows: {event['rejected_rows']} -> {event.get('dataset')}__rejected")
    lines.append("  schema:")
    lines += [f"    {n}: {t} {nn}".rstrip() for n, t, nn in _schema_rows(event.get("schema") or [])]
    if event.get("schema_version"):
        diff = event.get("contract_diff")
        lines.append(f"  contract v{event['schema_version']}: " + ("matches" if not diff else "differs"))
        if diff:
            lines += [f"    {line}" for line in str(diff).splitlines()]
    else:
        lines.append("  no contract yet (nbpipe promote <notebook> writes one)")
    return "\n".join(lines)


def read_html(event: Mapping[str, Any]) -> str:
    """HTML summary of a ``dataset_read`` event (escaped)."""
    e = html.escape
    rows = "".join(f"<tr><td><code>{e(n)}</code></td><td>{e(t)}</td><td>{e(nn)}</td></tr>"
                   for n, t, nn in _schema_rows(event.get("schema") or []))
    badges = [f"<b>{e(str(event.get('rows')))}</b> rows", f"{e(str(event.get('files')))} file(s)"]
    if event.get("corrupt_rows"):
        badges.append(f"<span style='color:#b00'>{e(str(event['corrupt_rows']))} corrupt</span>")
    if event.get("rejected_rows"):
        badges.append(f"<span style='color:#b00'>{e(str(event['rejected_rows']))} rejected</span>")
    contract = "<p>No contract yet: <code>nbpipe promote &lt;notebook&gt;</code> writes one.</p>"
    if event.get("schema_version"):
        diff = event.get("contract_diff")
        contract = (f"<p>Contract v{e(str(event['schema_version']))}: "
                    + ("matches.</p>" if not diff else f"differs:</p><pre>{e(str(diff))}</pre>"))
    return (f"<div class='nbpipe-read'><h4>{e(str(event.get('dataset')))} "
            f"<small>({e(str(event.get('format')))}, {e(str(event.get('mode')))})</small></h4>"
            f"<p>{' · '.join(badges)}</p><table><tr><th>column</th><th>type</th><th></th></tr>{rows}</table>"
            f"{contract}</div>")


def write_text(result: Mapping[str, Any]) -> str:
    """Plain-text summary of a write result."""
    where = "sandbox" if result.get("sandbox") else "staged"
    parts = result.get("partitions") or []
    return (f"dataset {result.get('dataset')} {where}: {result.get('rows')} rows, {len(parts)} partition(s), "
            f"{result.get('bytes')} bytes at {result.get('path')}")


def write_html(result: Mapping[str, Any]) -> str:
    """HTML summary of a write result (escaped)."""
    return f"<div class='nbpipe-write'>{html.escape(write_text(result))}</div>"


def show_read(event: Mapping[str, Any], sample: Callable[[], Any] | None = None) -> None:
    """Show a read summary inline (notebook: a widget with schema, contract and sample) or on stdout.

    Args:
        event: The ``dataset_read`` event.
        sample: Returns a small pandas frame of the data; called only when a widget is built.
    """
    def widget() -> Any:
        from nbpipe.data._widgets import read_widget

        return read_widget(event, sample)

    _emit(read_text(event), read_html(event), widget)


def show_write(result: Mapping[str, Any]) -> None:
    """Show a write summary inline (notebook) or on stdout."""
    _emit(write_text(result), write_html(result))
