"""The ipywidgets view of a dataset read (explore mode): schema, contract diff and a sample.

Built only by :func:`nbpipe.data._display.show` when a person works at a Jupyter kernel; the same
facts are in the static HTML beside it. Every value is escaped before it reaches an HTML widget.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from typing import Any


def read_widget(event: Mapping[str, Any], sample: Callable[[], Any] | None) -> Any:
    """Tabs ``schema`` / ``contract`` / ``sample`` under a header with the row count."""
    import ipywidgets as w

    from nbpipe.data._display import _schema_rows

    e = html.escape
    header = w.HTML(f"<b>{e(str(event.get('dataset')))}</b> ({e(str(event.get('format')))}, "
                    f"{e(str(event.get('mode')))}): <b>{e(str(event.get('rows')))}</b> rows from "
                    f"{e(str(event.get('files')))} file(s)")
    rows = "".join(f"<tr><td><code>{e(n)}</code></td><td>{e(t)}</td><td>{e(nn)}</td></tr>"
                   for n, t, nn in _schema_rows(event.get("schema") or []))
    schema = w.HTML(f"<table class='nbpipe-schema'><tr><th>column</th><th>type</th><th></th></tr>{rows}</table>")
    if event.get("schema_version"):
        diff = event.get("contract_diff")
        text = f"Contract v{e(str(event['schema_version']))}: " + (
            "matches." if not diff else f"differs:<pre>{e(str(diff))}</pre>")
    else:
        text = "No contract yet: <code>nbpipe promote &lt;notebook&gt;</code> writes one."
    contract = w.HTML(text)
    preview = w.HTML(_sample_html(sample))
    tabs = w.Tab(children=[schema, contract, preview])
    for i, title in enumerate(("schema", "contract", "sample")):
        tabs.set_title(i, title)
    box = w.VBox([header, tabs])
    box.add_class("nbpipe-read-widget")
    return box


def _sample_html(sample: Callable[[], Any] | None) -> str:
    if sample is None:
        return "<p>No sample.</p>"
    try:
        frame = sample()
    except Exception as exc:  # a sample is a courtesy: the read itself succeeded
        return f"<p>No sample: {html.escape(type(exc).__name__)}: {html.escape(str(exc)[:200])}</p>"
    return str(frame.to_html(max_rows=10, escape=True, index=False))
