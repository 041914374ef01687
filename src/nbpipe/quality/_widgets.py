"""The ipywidgets view of a quality check (explore mode).

One row per expectation with its status and counts, and a picker: choosing a failed expectation
shows its failing example values. Built only when a person works at a Jupyter kernel
(:func:`nbpipe.data._display.widgets_wanted`); every value is escaped.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from nbpipe.quality.results import CheckResult, ExpectationResult


def examples_html(r: ExpectationResult) -> str:
    """The failing examples (or the error) of one expectation as an escaped HTML list."""
    from nbpipe.quality.results import jsonable

    if r.exception:
        return f"<pre>{html.escape(r.exception[:2000])}</pre>"
    if not r.partial_unexpected_list:
        return f"<p>No example values (observed: {html.escape(repr(jsonable(r.observed_value, max_text=80)))}).</p>"
    items = "".join(f"<li><code>{html.escape(repr(jsonable(v, max_text=120)))}</code></li>"
                    for v in r.partial_unexpected_list)
    count = "" if r.unexpected_count is None else f"{r.unexpected_count} unexpected; "
    return f"<p>{count}examples:</p><ul class='nbpipe-examples'>{items}</ul>"


def check_widget(result: CheckResult) -> Any:
    """The check's table, a dropdown of its failed expectations and their failing examples."""
    import ipywidgets as w

    table = w.HTML(result._repr_html_())
    failed = result.failed
    if not failed:
        box = w.VBox([table])
    else:
        picker = w.Dropdown(options=[(r.label, i) for i, r in enumerate(failed)], value=0,
                            description="failing:", style={"description_width": "initial"},
                            layout=w.Layout(width="auto"))
        examples = w.HTML(examples_html(failed[0]))

        def pick(change: dict[str, Any]) -> None:
            examples.value = examples_html(failed[int(change["new"])])

        picker.observe(pick, names="value")
        box = w.VBox([table, picker, examples])
    box.add_class("nbpipe-check-widget")
    return box
