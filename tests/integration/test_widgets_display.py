"""What a person's Jupyter kernel shows: check results once, as widgets, and the panel with a fallback.

A real ipykernel (jupyter_client) in the panel test project, with ``JPY_SESSION_NAME`` naming the
open notebook as jupyter_server sets it. Each output is read from the kernel's iopub messages: a
``ctx.check`` result appears once under its cell (it used to appear twice: displayed by the call
and again as the cell's value), its bundle holds a widget view *and* the static HTML a front end
without the widget manager renders; the failing-expectation picker is a real widget model.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.panel import build_panel_project

WIDGET = "application/vnd.jupyter.widget-view+json"


class Kernel:
    def __init__(self, root: Path) -> None:
        from jupyter_client.manager import start_new_kernel

        env = {k: v for k, v in os.environ.items() if not k.startswith("NBPIPE_")}
        env["JPY_SESSION_NAME"] = str(root / "demo.ipynb")
        self.km, self.kc = start_new_kernel(kernel_name="python3", cwd=str(root), env=env, startup_timeout=300)

    def execute(self, code: str) -> list[dict[str, Any]]:
        """Run ``code``; the iopub messages it caused (until the kernel is idle)."""
        msg_id = self.kc.execute(code)
        messages = []
        while True:
            msg = self.kc.get_iopub_msg(timeout=300)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return messages
            messages.append(msg)

    def stop(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    root = build_panel_project(tmp_path_factory.mktemp("display") / "project")
    k = Kernel(root)
    try:
        setup = k.execute("import nbpipe\nctx = nbpipe.context()\n" + "import pandas as pd\n"
                          "frame = pd.DataFrame({'carrier': ['AA', 'UA', None], 'delay': [1, 2, 3]})")
        assert not [m for m in setup if m["msg_type"] == "error"], setup
        yield k
    finally:
        k.stop()


def outputs(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    errors = [m["content"] for m in messages if m["msg_type"] == "error"]
    assert not errors, errors
    return [m["content"]["data"] for m in messages if m["msg_type"] in ("display_data", "execute_result")]


def test_check_result_is_shown_once_as_a_widget_with_an_html_fallback(kernel: Kernel) -> None:
    messages = kernel.execute("ctx.check(frame, 'demo')")
    shown = outputs(messages)
    assert len(shown) == 1, f"the check result is shown {len(shown)} times"
    assert WIDGET in shown[0] and "nbpipe-check" in shown[0]["text/html"]
    assert "FAILED: suite 'demo'" in shown[0]["text/plain"]
    states = [m["content"]["data"]["state"] for m in messages if m["msg_type"] == "comm_open"]
    pickers = [s for s in states if s.get("_model_name") == "DropdownModel"]
    assert [p["_options_labels"] for p in pickers] == [["expect_column_values_to_not_be_null(carrier)"]]
    examples = [s["value"] for s in states if s.get("_model_name") == "HTMLModel" and "nbpipe-examples" in s["value"]]
    assert examples and "1 unexpected" in examples[0]
    # Kept in a variable and shown in a later cell, it is shown (once) again.
    assert len(outputs(kernel.execute("kept = ctx.check(frame, 'demo')"))) == 1
    assert len(outputs(kernel.execute("kept"))) == 1


def test_without_widgets_the_same_objects_fall_back_to_html(kernel: Kernel) -> None:
    shown = outputs(kernel.execute("import os\nos.environ['NBPIPE_WIDGETS'] = '0'\nctx.check(frame, 'demo')"))
    try:
        assert len(shown) == 1 and WIDGET not in shown[0] and "nbpipe-check" in shown[0]["text/html"]
        panel = outputs(kernel.execute("ctx.panel()"))
        assert len(panel) == 1 and WIDGET not in panel[0]
        assert "nbpipe run demo -p NAME=VALUE" in panel[0]["text/html"]
    finally:
        kernel.execute("os.environ.pop('NBPIPE_WIDGETS')")


def test_panel_of_the_open_notebook_is_a_widget_with_the_commands_as_fallback(kernel: Kernel) -> None:
    messages = kernel.execute("p = ctx.panel()\np")
    shown = outputs(messages)
    assert len(shown) == 1 and WIDGET in shown[0]
    assert "nbpipe-panel-static" in shown[0]["text/html"] and "nbpipe promote demo" in shown[0]["text/html"]
    states = [m["content"]["data"]["state"] for m in messages if m["msg_type"] == "comm_open"]
    assert {s.get("description") for s in states} >= {"Run in production", "Cancel", "run_date", "api_token"}
    assert any(s.get("_model_name") == "PasswordModel" for s in states)
    bad = kernel.execute("ctx.panel('dmeo')")
    error = next(m["content"] for m in bad if m["msg_type"] == "error")
    assert error["ename"] == "ConfigError" and "did you mean 'demo'" in error["evalue"]
