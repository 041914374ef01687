"""The ``nbpipe`` command line: parse options, call a service, print. No logic of its own.

Exit codes: 0 success (or skipped, up to date); 1 unexpected error; 2 config; 3 parameters (or run id);
4 notebook; 5 pipeline locked; 6 dataset; 7 contract violation; 8 bad rows; 9 state; 10 a cell
raised; 11 kernel died; 12 timeout; 13 quality gate; 14 store; 130 interrupted
(a run cancelled by SIGINT/SIGTERM: status ``cancelled``).

One module per command group (``run``, ``backfill``, ``history``, ``gc``, ``promote``, ``dag``, ``spark``,
``demo``, ``init``, ``lineage``, ``docs``, ``monitor``, ``notify``, ``airflow``; the live progress view in
``progress``). This module assembles them: the registrations below are the whole command surface,
in ``nbpipe --help`` order. It also owns the one translation of :class:`~nbpipe.errors.NbpipeError`
into ``error: …`` / ``hint: …`` on stderr and the error's exit code, so commands simply let nbpipe
errors propagate. Any other exception is a bug: it prints one ``error:`` line naming it and the crash
log that holds its traceback, and exits 1.
No command prints a Python traceback.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from nbpipe.cli import (
    airflow,
    backfill,
    cost,
    dag,
    demo,
    docs,
    gc,
    history,
    init,
    lineage,
    lineage_flush,
    monitor,
    notify,
    panel,
    promote,
    run,
    spark,
)
from nbpipe.cli._common import err, print_error
from nbpipe.cli._crash import is_click_flow, write_crash_log
from nbpipe.errors import NbpipeError

__all__ = ["app", "main"]


class _NbpipeGroup(TyperGroup):
    """The root command group: any command's ``NbpipeError`` becomes its message, hint and exit code."""

    def invoke(self, ctx: Any) -> Any:  # a click Context (vendored as typer._click by typer >= 0.22)
        try:
            return super().invoke(ctx)
        except NbpipeError as exc:
            print_error(exc.message, exc.hint)
            raise typer.Exit(exc.exit_code) from None
        except Exception as exc:
            if is_click_flow(exc):  # typer.Exit, usage errors, Abort: click prints and exits
                raise
            log = write_crash_log(exc)
            where = f"the traceback is in {log}" if log else "the traceback could not be written to a file"
            text = str(exc)
            print_error(f"unexpected {type(exc).__name__}" + (f": {text}" if text else ""),
                        f"{where}; please report it with that file")
            raise typer.Exit(NbpipeError.exit_code) from None


app = typer.Typer(
    cls=_NbpipeGroup,
    name="nbpipe",
    help="Explore in notebooks, promote them to strict, incremental, monitored pipelines.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command()(run.run)
app.command()(backfill.backfill)
app.command()(history.runs)
app.command()(history.show)
app.command()(promote.promote)
app.command()(history.report)
app.command()(gc.gc)
app.command()(init.init)
app.command()(demo.demo)
app.command()(docs.docs)
app.command("panel-params", hidden=True)(panel.panel_params)
app.command("panel-runs", hidden=True)(panel.panel_runs)
app.command()(cost.cost)
app.add_typer(promote.contracts_app, name="contracts")
app.add_typer(dag.dag_app, name="dag")
app.add_typer(spark.spark_app, name="spark")
app.command()(monitor.monitor)
app.add_typer(notify.notify_app, name="notify")
app.add_typer(airflow.airflow_app, name="airflow")
app.add_typer(lineage.lineage_app, name="lineage")
lineage.lineage_app.command("flush")(lineage_flush.flush)


def main() -> None:
    """Console-script entry point (``nbpipe``, ``python -m nbpipe.cli``)."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        raise SystemExit(130) from None
