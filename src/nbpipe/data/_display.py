"""Explore-mode summaries of reads and writes: rich HTML in a notebook, plain text elsewhere.

Pure presentation over the event payloads the catalog emits (``dataset_read``,
``dataset_staged``): schema, row counts, corrupt and rejected rows, the diff against the
dataset's contract. HTML is escaped; nothing here touches Spark.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with Jupyter
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _emit(text: str, markup: str) -> None:
    if _in_kernel():
        from IPython.display import HTML, display

        display(HTML(markup))
    else:
        print(text)


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


def show_read(event: Mapping[str, Any]) -> None:
    """Show a read summary inline (notebook) or on stdout."""
    _emit(read_text(event), read_html(event))


def show_write(result: Mapping[str, Any]) -> None:
    """Show a write summary inline (notebook) or on stdout."""
    _emit(write_text(result), write_html(result))
