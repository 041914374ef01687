"""The ``nbpipe lineage`` group: its bare form is ``show``, and another subcommand (``flush``) sits beside it."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from nbpipe.cli.lineage import DEFAULT, _ShowByDefault


def _group() -> typer.Typer:
    app = typer.Typer(cls=_ShowByDefault)

    @app.command(DEFAULT)
    def show(name: str | None = typer.Argument(None), as_json: bool = typer.Option(False, "--json")) -> None:
        print(f"show name={name} json={as_json}")

    @app.command("flush")
    def flush() -> None:
        print("flush")

    return app


def test_any_first_argument_that_is_not_a_subcommand_goes_to_show() -> None:
    runner, app = CliRunner(), _group()
    assert runner.invoke(app, []).output == "show name=None json=False\n"
    assert runner.invoke(app, ["flights"]).output == "show name=flights json=False\n"
    assert runner.invoke(app, ["--json"]).output == "show name=None json=True\n"
    assert runner.invoke(app, ["flights", "--json"]).output == "show name=flights json=True\n"
    assert runner.invoke(app, ["flush"]).output == "flush\n"
    assert runner.invoke(app, ["show", "flush"]).output == "show name=flush json=False\n"  # a dataset named flush
    helped = runner.invoke(app, ["--help"])
    assert helped.exit_code == 0 and "show" in helped.output and "flush" in helped.output
